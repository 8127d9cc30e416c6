# Every target sets itself up (scripts/bootstrap.sh is a fast no-op once done).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv through a wrapper: it finds or installs uv and applies the project's uv settings.
# --frozen: never rewrite uv.lock as a side effect of running something.
UV_RUN := scripts/uv.sh run --frozen

DATA_DIR ?= ./data
RUN_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
STACK_PORT ?= 8000
PROTOS = $(wildcard proto/murmur/events/v1/*.proto)

STUDY_OUT ?= study-results
STUDY_ARGS ?=

.PHONY: help bootstrap run stack test soak mutate lint bench study autoscale-demo simulate proto clean

help:
	@echo "make run     serve the embedded shape (DATA_DIR=$(DATA_DIR), RUN_ARGS=...)"
	@echo "make stack   the cloud shape on one machine: local stores, API and worker (STACK_PORT=$(STACK_PORT))"
	@echo "make test    pytest (PYTEST_ARGS=...); properties try the same examples every run"
	@echo "make soak    the property tests with random examples, ten times as many for the machines"
	@echo "make mutate  mutation testing of the core (MUTATE_GROUPS='api fanout stores operator'): docs/mutation.md"
	@echo "make lint    ruff, ruff format --check, mypy --strict, import-linter"
	@echo "make bench   benchmarks in bench/ (BENCH_ARGS=... for bench.serving)"
	@echo "make study   the fan-out study, ~17 min: report in STUDY_OUT=$(STUDY_OUT) (STUDY_ARGS=--with-100k ...)"
	@echo "make autoscale-demo  the operator scaling real workers for a 100,000-follower post (FOLLOWERS=...)"
	@echo "make simulate        Murmur's autoscaler against KEDA's on one trace (docs/operator.md)"
	@echo "make proto   regenerate protobuf code from proto/"
	@echo "make clean   remove caches and bench results (keeps .venv and $(DATA_DIR))"

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	$(UV_RUN) murmur serve --data-dir $(DATA_DIR) $(RUN_ARGS)

# The cloud profile against local stand-ins (the test suite's servers), in the
# foreground until Ctrl-C; see devstack/__main__.py.
stack: bootstrap
	@scripts/system-deps.sh test
	STACK_PORT=$(STACK_PORT) $(UV_RUN) python -m devstack

# pytest exits 5 when it collects nothing: that is a failure too (a broken
# conftest or path must not pass CI), so only 0 passes.
test: bootstrap
	@scripts/system-deps.sh test
	@scripts/npm-deps.sh
	@scripts/deploy-tools.sh
	@rc=0; $(UV_RUN) pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): failing" >&2; fi; \
	exit $$rc

# What the fixed examples of `make test` miss: random ones, many more (tests/hypothesis_profiles.py).
SOAK_TESTS ?= tests/fanout tests/operator/test_scaling_decision.py tests/api/test_api_cost.py tests/storage/test_neptune.py
soak: bootstrap
	@scripts/system-deps.sh test
	HYPOTHESIS_PROFILE=soak $(UV_RUN) pytest --timeout 3600 $(SOAK_TESTS) $(PYTEST_ARGS)

# Mutation testing of the modules that must be right, group by group (scripts/mutate.py);
# results are kept in .mutation/ between runs: unchanged code is not redone.
MUTATE_GROUPS ?=
MUTATE_ARGS ?=
mutate: bootstrap
	@scripts/system-deps.sh test
	$(UV_RUN) python scripts/mutate.py $(MUTATE_GROUPS) $(MUTATE_ARGS)

# Runs every check and fails at the end, so one run shows every problem.
lint: bootstrap
	@scripts/system-deps.sh lint
	@failed=""; \
	$(UV_RUN) ruff check . || failed="$$failed ruff-check"; \
	$(UV_RUN) ruff format --check . || failed="$$failed ruff-format"; \
	$(UV_RUN) mypy --strict murmur api workers loadtest devstack operator/murmur_operator || failed="$$failed mypy"; \
	if [ -f .importlinter ] || grep -qs '^\[tool\.importlinter\]' pyproject.toml setup.cfg; then \
		$(UV_RUN) lint-imports || failed="$$failed import-linter"; \
	else echo "lint: no import-linter config, skipping lint-imports"; fi; \
	if [ -n "$$failed" ]; then echo "make lint: failed:$$failed" >&2; exit 1; fi

# bench.serving first, then every other bench/<name>.py (helpers start with "_").
bench: bootstrap
	@scripts/system-deps.sh bench
	@failed=""; \
	$(UV_RUN) python -m bench.serving $(BENCH_ARGS) || failed="$$failed serving"; \
	for f in bench/*.py; do \
		name=$$(basename "$$f" .py); \
		case "$$name" in _*|serving) continue ;; esac; \
		echo "== python -m bench.$$name"; \
		$(UV_RUN) python -m "bench.$$name" || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "make bench: failed:$$failed" >&2; exit 1; fi

# the operator's loop closed on one machine, printed each second (devstack/autoscale.py)
FOLLOWERS ?= 100000
autoscale-demo: bootstrap
	@scripts/system-deps.sh test
	$(UV_RUN) python -m devstack.autoscale --followers $(FOLLOWERS)

simulate: bootstrap
	$(UV_RUN) python -m murmur_operator.simulate --plot docs/operator/simulation.svg

# the fan-out study (murmur experiment): study.json and report.html in STUDY_OUT
study: bootstrap
	$(UV_RUN) murmur experiment --out $(STUDY_OUT) $(STUDY_ARGS)

proto: bootstrap
	@if [ -z "$(PROTOS)" ]; then echo "make proto: no proto/murmur/events/v1/*.proto" >&2; exit 1; fi
	$(UV_RUN) python -m grpc_tools.protoc -I proto --python_out=. --pyi_out=. $(PROTOS)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis bench-results study-results build dist
	find . -path ./.venv -prune -o -path ./.git -prune -o -type d -name __pycache__ -print0 \
		| xargs -0 rm -rf
