"""Hypothesis profiles: the same examples on every `make test`, many random ones in `make soak`.

"ci" (the default) derandomises: every run of a property tries the same examples, so a bug
a property catches once it catches on every run, on every machine, and a failure seen in
CI is seen again locally. "soak" (`make soak`) draws random examples, ten times as many
for the state machines, to find what the fixed ones miss; a failing example it finds goes
into the test as an `@example` or a scripted race (tests/fanout/test_races.py).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("soak", derandomize=False, print_blob=True)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(count: int) -> int:
    """A machine's examples under the loaded profile: more when soaking."""
    return count * 10 if PROFILE == "soak" else count
