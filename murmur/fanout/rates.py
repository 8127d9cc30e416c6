"""How often each user reads their timeline and writes posts, as this process sees it.

Each rate is an exponentially decayed count: every event adds one, and the sum halves
every `half_life` seconds, so `rate` ≈ events per second over the last few half-lives
and old behaviour fades. Memory is one entry per user seen lately: once a user's count has
decayed below FORGET_BELOW (a thousandth of one event, about ten half-lives after their
last event) it counts as zero and is dropped, in a sweep at most once per half-life, so a
long-lived process holds only the users of the last ten-odd half-lives. A dropped count
moves a rate by under FORGET_BELOW × ln 2 / half-life, so the cost model decides as before
except between rates that tie to within a thousandth of an event. With several API processes
behind a load balancer each sees its share of the traffic: the rates are smaller in the
same proportion for readers and writers alike, so their ratio, which is what the cost
model compares, still holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from murmur.domain import UserId

FORGET_BELOW = 1e-3  # a decayed count under this is zero: the entry is dropped


class RateMeter:
    def __init__(self, *, half_life_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._decay = math.log(2) / half_life_seconds
        self._clock = clock
        self._started = clock()
        self._half_life = half_life_seconds
        self._counts: dict[UserId, tuple[float, float]] = {}  # user -> (decayed count, at)
        self._swept = self._started

    def record(self, user_id: UserId) -> None:
        now = self._clock()
        self._counts[user_id] = (self._count_at(user_id, now) + 1.0, now)
        if now - self._swept >= self._half_life:
            self._forget_faded(now)

    def rate(self, user_id: UserId) -> float:
        """Events per second, lately."""
        return self._count_at(user_id, self._clock()) * self._decay

    def mean_rate(self, user_ids: Iterable[UserId]) -> float:
        rates = [self.rate(user_id) for user_id in user_ids]
        return sum(rates) / len(rates) if rates else 0.0

    def watched_seconds(self) -> float:
        """How long this meter has been counting."""
        return self._clock() - self._started

    def __len__(self) -> int:
        """Users this meter holds a count for."""
        return len(self._counts)

    def _forget_faded(self, now: float) -> None:
        self._swept = now
        faded = [
            user_id
            for user_id, (count, at) in self._counts.items()
            if count * math.exp(-self._decay * (now - at)) < FORGET_BELOW
        ]
        for user_id in faded:
            del self._counts[user_id]

    def _count_at(self, user_id: UserId, now: float) -> float:
        count, at = self._counts.get(user_id, (0.0, now))
        decayed = count * math.exp(-self._decay * (now - at))
        return decayed if decayed >= FORGET_BELOW else 0.0
