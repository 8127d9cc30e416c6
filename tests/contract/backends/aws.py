"""Contract-suite fixtures for the aws backends (see tests/contract/conftest.py)."""
