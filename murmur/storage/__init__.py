"""Storage: one small Protocol per capability (base.py), one module per technology."""
