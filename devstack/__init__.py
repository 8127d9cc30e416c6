"""Murmur's cloud shape on one machine: real local stand-ins for the cloud stores, and
Murmur's API and fan-out worker as separate processes pointed at them.

    python -m devstack      what `make stack` runs (devstack/__main__.py)
    devstack.cloud          the settings and processes, shared with the end-to-end test of
                            the cloud profile (tests/e2e/test_cloud_profile.py)

Development tooling: not part of the distribution, and nothing in murmur/, api/ or
workers/ imports it.
"""
