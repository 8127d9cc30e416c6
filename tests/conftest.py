pytest_plugins = [
    "pytester",  # tests of the suite's own hooks run pytest inside pytest
    "tests.ci_skips",  # in CI a skip is a failure
    "tests.hypothesis_profiles",  # the same examples every run ("ci"), or many random ones ("soak")
    "tests.servers",
    # each cloud backend's contract fixtures (N_<role>, see tests/contract/conftest.py)
    "tests.contract.backends.mongo",
    "tests.contract.backends.neptune",
    "tests.contract.backends.aws",
    "tests.contract.backends.redis",
]
