"""Contract-suite fixtures for the mongo backends (see tests/contract/conftest.py)."""
