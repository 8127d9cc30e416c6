pytest_plugins = [
    "tests.servers",
    # each cloud backend's contract fixtures (N_<role>, see tests/contract/conftest.py)
    "tests.contract.backends.mongo",
    "tests.contract.backends.neptune",
    "tests.contract.backends.aws",
    "tests.contract.backends.redis",
]
