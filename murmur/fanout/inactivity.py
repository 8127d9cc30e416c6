"""Who push skips, and whose timeline is rebuilt when they come back: one rule, one place.

Push skips owners whose recorded activity is older than the window (`active_among`, on
the worker's clock). A reader is rebuilt before their first page (`returning`, on the
API's clock) when their activity is older than the window *less a margin*, because the
two decisions are made in different processes: clocks differ by up to MAX_CLOCK_SKEW,
so a reader the worker just judged inactive may look active by a few seconds to the API.
The margin is twice the skew, so every reader push may have skipped is rebuilt; a reader
rebuilt without need costs one rebuild, a reader skipped and not rebuilt would miss
posts for good.

A read is recorded at most once per `record_every` seconds per process (reads are hot),
so recorded activity lags by up to that much. The throttle is a tenth of the window (at
most ACTIVITY_EVERY_SECONDS), and the window must be at least MIN_WINDOW, so a read too
soon after the last recorded one to be recorded itself always comes before any skip:
whoever push skipped has their next read recorded, and checked.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from murmur.domain import UserId
from murmur.storage.base import UserStore

MAX_CLOCK_SKEW = timedelta(seconds=60)  # between any two Murmur hosts (NTP keeps them within ms)
ACTIVITY_EVERY_SECONDS = 600.0
MIN_WINDOW = timedelta(hours=1)  # leaves room for the throttle and the skew many times over
_REMEMBERED = 100_000  # readers whose last recorded read this process remembers


def record_every_seconds(window: timedelta) -> float:
    return min(ACTIVITY_EVERY_SECONDS, window.total_seconds() / 10)


class Inactivity:
    def __init__(self, *, users: UserStore, after_days: float | None, clock: Callable[[], datetime]) -> None:
        self._users = users
        self._clock = clock
        self.window = timedelta(days=after_days) if after_days else None
        self.record_every = record_every_seconds(self.window) if self.window else ACTIVITY_EVERY_SECONDS
        self._recorded: OrderedDict[UserId, datetime] = OrderedDict()  # by this process, on its clock

    async def active_among(self, owners: Sequence[UserId]) -> list[UserId]:
        """The owners push still reaches: all of them, or those active within the window."""
        if self.window is None or not owners:
            return list(owners)
        active = await self._users.active_among(user_ids=owners, since=self._clock() - self.window)
        return [owner for owner in owners if owner in active]

    async def returning(self, viewer: UserId, rebuild: Callable[[UserId], Awaitable[None]] | None) -> None:
        """Note the viewer's read (at most once per `record_every` per process). If push may
        have skipped them since their last recorded read, `rebuild` runs first, and the read
        is recorded only once it has succeeded: a rebuild that fails, or a request cancelled
        during it, leaves the rebuild owed to the next read."""
        at = self._clock()
        last = self._recorded.get(viewer)
        if last is not None and (at - last).total_seconds() < self.record_every:
            return
        if self.window is not None and rebuild is not None:
            since = at - (self.window - 2 * MAX_CLOCK_SKEW)
            if viewer not in await self._users.active_among(user_ids=[viewer], since=since):
                await rebuild(viewer)
        await self._users.record_activity(user_id=viewer, at=at)
        self._recorded[viewer] = at
        self._recorded.move_to_end(viewer)
        if len(self._recorded) > _REMEMBERED:
            self._recorded.popitem(last=False)
