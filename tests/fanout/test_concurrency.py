"""Fan-out stays exact when workers race each other and the API, on the embedded backends.

See concurrent_machine.py: API operations in one process and several workers in another,
interleaved one store call at a time, redeliveries while a message is still being handled,
killed workers, duplicated relay sends, injected store failures, stalled graph writes,
replans and lapsed users; after convergence every timeline equals the model's and every
live post was announced once.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from concurrent_machine import ConcurrentFanout, machine_settings

from murmur.settings import Settings, Strategy
from murmur.storage.bundle import Backends
from murmur.storage.factory import open_backends


class EmbeddedFanout(ConcurrentFanout):
    """Each platform opens the same data folder: its own SQLite connections and in-process
    cache and bus over one file, as `murmur serve` and `murmur worker` would."""

    tmp: Path | None = None

    async def open_backends(self, settings: Settings) -> Backends:
        if self.tmp is None:
            self.tmp = Path(tempfile.mkdtemp(prefix="murmur-concurrency-"))
        return await open_backends(settings.model_copy(update={"data_dir": self.tmp}))

    async def remove_stores(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


class EmbeddedPush(EmbeddedFanout):
    strategy = Strategy.PUSH


class EmbeddedHybrid(EmbeddedFanout):
    strategy = Strategy.HYBRID


class EmbeddedCostModel(EmbeddedFanout):
    """Hybrid whose pushed-or-pulled choice follows measured rates: with a short half-life
    and no memory, one author's posts change delivery as the machine reads and writes."""

    strategy = Strategy.COST_MODEL

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "cost_model": {"half_life_seconds": 0.05, "remember_seconds": 0}}


TestPushUnderConcurrency = machine_settings(max_examples=120)(EmbeddedPush)
TestHybridUnderConcurrency = machine_settings(max_examples=80)(EmbeddedHybrid)
TestCostModelUnderConcurrency = machine_settings(max_examples=40)(EmbeddedCostModel)
