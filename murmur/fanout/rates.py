"""How often each user reads their timeline and writes posts, as this process sees it.

Each rate is an exponentially decayed count: every event adds one, and the sum halves
every `half_life` seconds, so `rate` ≈ events per second over the last few half-lives
and old behaviour fades. Memory is one entry per user seen. With several API processes
behind a load balancer each sees its share of the traffic: the rates are smaller in the
same proportion for readers and writers alike, so their ratio, which is what the cost
model compares, still holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from murmur.domain import UserId


class RateMeter:
    def __init__(self, *, half_life_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._decay = math.log(2) / half_life_seconds
        self._clock = clock
        self._started = clock()
        self._counts: dict[UserId, tuple[float, float]] = {}  # user -> (decayed count, at)

    def record(self, user_id: UserId) -> None:
        now = self._clock()
        self._counts[user_id] = (self._count_at(user_id, now) + 1.0, now)

    def rate(self, user_id: UserId) -> float:
        """Events per second, lately."""
        return self._count_at(user_id, self._clock()) * self._decay

    def mean_rate(self, user_ids: Iterable[UserId]) -> float:
        rates = [self.rate(user_id) for user_id in user_ids]
        return sum(rates) / len(rates) if rates else 0.0

    def watched_seconds(self) -> float:
        """How long this meter has been counting."""
        return self._clock() - self._started

    def _count_at(self, user_id: UserId, now: float) -> float:
        count, at = self._counts.get(user_id, (0.0, now))
        return count * math.exp(-self._decay * (now - at))
