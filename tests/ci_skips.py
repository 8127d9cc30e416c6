"""In CI a skipped test is a failed test: a missing browser, tool or server must never pass
CI as a skip.

With CI set (`.ci/run` sets CI=true; any value but "", 0, false or no counts), every skip
becomes a failure that says what was skipped and why: `pytest.skip`, `skipif`, and a
module skipped while it was collected. An expected failure (xfail) is not a skip. The few
tests that must skip even in CI are listed in ALLOWED, each with its reason.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.servers._policy import in_ci

# node id prefix -> why it may skip in CI too (none today)
ALLOWED: dict[str, str] = {}


def _allowed(nodeid: str) -> bool:
    return any(nodeid.startswith(prefix) for prefix in ALLOWED)


def _reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, which fails it: {_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and not hasattr(report, "wasxfail") and in_ci() and not _allowed(item.nodeid):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and in_ci() and not _allowed(report.nodeid):
        _fail(report)
