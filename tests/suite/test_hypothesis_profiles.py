"""`make test` runs every property on fixed examples; `make soak` on random ones."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import tests.hypothesis_profiles as p; from hypothesis import settings; "
    "print(settings.default.derandomize, p.examples(40))"
)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [(None, ["True", "40"]), ("ci", ["True", "40"]), ("soak", ["False", "400"])],
    ids=["make-test", "ci", "soak"],
)
def test_the_profile_decides_fixed_or_random_examples(profile: str | None, expected: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}
    if profile is not None:
        env["HYPOTHESIS_PROFILE"] = profile
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == expected
