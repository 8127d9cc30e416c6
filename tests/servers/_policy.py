"""What a test does when its server cannot start: fail in CI, skip elsewhere."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    # CI sets CI=true; treat any value but an explicit "no" as CI, so a typo cannot
    # quietly turn CI failures into skips.
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def server_unavailable(server: str, reason: str, details: str = "") -> NoReturn:
    """Fail the requesting test in CI (a missing server must never pass CI as a skip);
    skip it elsewhere, saying why. Details (the server's log) go with the failure only:
    a skip reason is one line in the summary."""
    message = f"{server} could not start: {reason}"
    if in_ci():
        pytest.fail(f"{message}\n{details}" if details else message, pytrace=False)
    pytest.skip(f"{message} (skipped outside CI; with CI=true this fails)")
