"""What the running app holds between startup and shutdown: the platform, the workers, seeding."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import dataclass

from murmur.platform import Platform
from murmur.seed import seed_if_empty
from murmur.settings import DEFAULT_DEMO_PASSWORD, Settings
from workers.pool import WorkerPool

log = logging.getLogger(__name__)


class SeedState(enum.StrEnum):
    DISABLED = "disabled"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class Runtime:
    platform: Platform
    seed: SeedState = SeedState.DISABLED
    pool: WorkerPool | None = None
    _seeding: asyncio.Task[None] | None = None

    @property
    def seeded(self) -> bool:
        return self.seed in (SeedState.DISABLED, SeedState.DONE)

    async def start(self) -> None:
        """Seed in the background (the server answers /healthz at once), then start the workers.

        The workers wait for the seed: it writes outbox messages that it marks
        published only at the end, and the relay would otherwise fan them out twice.
        """
        settings = self.platform.settings
        if settings.seed_enabled:
            self.seed = SeedState.RUNNING
            self._seeding = asyncio.create_task(self._seed_then_work(), name="seed-demo-world")
        else:
            await self._start_workers()

    async def stop(self) -> None:
        if self._seeding is not None:
            self._seeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._seeding
            self._seeding = None
        if self.pool is not None:
            await self.pool.stop()
            self.pool = None

    async def _seed_then_work(self) -> None:
        try:
            report = await seed_if_empty(self.platform)
        except Exception:
            self.seed = SeedState.FAILED
            log.exception("seeding the demo world failed")
        else:
            self.seed = SeedState.DONE
            if report is not None:
                log.info(
                    "demo world ready: %d users, %d posts; log in as %r with %s",
                    report.users,
                    report.posts,
                    report.demo_username,
                    _password_hint(self.platform.settings),
                )
        await self._start_workers()

    async def _start_workers(self) -> None:
        count = self.platform.settings.workers.in_process
        if count > 0:
            self.pool = WorkerPool(self.platform, workers=count)
            await self.pool.start()


def _password_hint(settings: Settings) -> str:
    """How to log in, never the password itself: the README's default is public, a
    configured one is not."""
    if settings.seed.demo_password.get_secret_value() == DEFAULT_DEMO_PASSWORD:
        return f"the default demo password {DEFAULT_DEMO_PASSWORD!r} (MURMUR_SEED__DEMO_PASSWORD)"
    return "the password MURMUR_SEED__DEMO_PASSWORD sets"
