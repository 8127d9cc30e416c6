"""Which timelines a push trims: about one in `every`, chosen by a hash of owner and post.

Timeline stores trim lazily (see TimelineStore): a push trims only some of the timelines
it reaches, so the cost of cutting a timeline back to the cap is shared by `every` pushes.
The choice depends only on (owner, post), so identical writes racing each other (a
redelivered chunk) choose the same timelines, and every timeline is chosen about once in
`every` pushes it receives.
"""

from __future__ import annotations

from collections.abc import Iterable

_MASK = (1 << 64) - 1


def _mix(owner: int, post: int) -> int:
    """splitmix64's finaliser over the pair: neighbouring ids land far apart."""
    z = (owner * 0x9E3779B97F4A7C15 + post) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def chosen_for_trim(owners: Iterable[int], post: int, every: int) -> list[int]:
    """The owners whose timelines a push of `post` trims."""
    if every <= 1:
        return list(owners)
    return [owner for owner in owners if _mix(owner, post) % every == 0]
