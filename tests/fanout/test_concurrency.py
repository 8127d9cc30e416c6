"""Fan-out stays exact when workers race each other and the API, on the embedded backends.

See concurrent_machine.py: API operations, several workers interleaved one store call at
a time, redeliveries while a message is still being handled, killed workers, duplicated
relay sends and lapsed users; after convergence every timeline equals the model's.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from concurrent_machine import ConcurrentFanout, machine_settings

from murmur.settings import Settings, Strategy
from murmur.storage.bundle import Backends
from murmur.storage.factory import open_backends


class EmbeddedFanout(ConcurrentFanout):
    async def open_backends(self, settings: Settings) -> Backends:
        self.tmp = Path(tempfile.mkdtemp(prefix="murmur-concurrency-"))
        return await open_backends(settings.model_copy(update={"data_dir": self.tmp}))

    async def close_backends(self, backends: Backends) -> None:
        await backends.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class EmbeddedPush(EmbeddedFanout):
    strategy = Strategy.PUSH


class EmbeddedHybrid(EmbeddedFanout):
    strategy = Strategy.HYBRID


TestPushUnderConcurrency = machine_settings(max_examples=120)(EmbeddedPush)
TestHybridUnderConcurrency = machine_settings(max_examples=80)(EmbeddedHybrid)
