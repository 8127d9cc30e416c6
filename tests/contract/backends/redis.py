"""Contract-suite fixtures for the redis backends (see tests/contract/conftest.py)."""
