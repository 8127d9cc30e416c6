"""Contract-suite fixtures for the neptune backends (see tests/contract/conftest.py)."""
