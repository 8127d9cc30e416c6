"""The suite's own rule: in CI a skip fails; outside CI it stays a skip."""

from __future__ import annotations

import pytest

SUITE = """
import pytest

def test_skipped_inside():
    pytest.skip("no browser here")

@pytest.mark.skipif(True, reason="no node here")
def test_skipped_by_mark():
    pass

@pytest.mark.xfail(strict=True, reason="a known bug")
def test_expected_to_fail():
    assert False

def test_fine():
    assert True
"""


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_in_ci_every_skip_fails_with_its_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("-p", "tests.ci_skips")
    # a skip in the test fails it; a skipif mark skips in setup, which fails as an error
    result.assert_outcomes(failed=1, errors=1, xfailed=1, passed=1)
    result.stdout.fnmatch_lines(["*skipped in CI, which fails it: *no browser here*"])
    result.stdout.fnmatch_lines(["*skipped in CI, which fails it: *no node here*"])


def test_a_module_skipped_at_collection_fails_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile('import pytest\npytest.importorskip("no_such_module_here")\ndef test_x(): pass\n')
    result = pytester.runpytest("-p", "tests.ci_skips")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped in CI, which fails it*no_such_module_here*"])


@pytest.mark.parametrize("ci", ["", "false", "0"])
def test_outside_ci_a_skip_stays_a_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("-p", "tests.ci_skips")
    result.assert_outcomes(skipped=2, xfailed=1, passed=1)
