"""One API process per set of stores may keep an in-process cache of them.

An in-process cache hears of a change only from its own process: a follow made through
one `murmur serve` leaves another's cached following lists, posts and token versions as
they were, for up to their TTL. So `murmur serve` with the in-process cache over the
embedded stores holds an exclusive lock on `<data_dir>/api.lock` for as long as it runs,
and a second one on the same folder refuses to start. Stores on servers cannot be
checked from here: there the in-process cache is allowed with one line saying it is
right only for a single API process (the chart's cloud profile uses Redis). Fan-out
workers keep no in-process cache at all (open_platform gives them none), so `murmur
worker` beside the API is fine.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from typing import IO

from murmur.settings import Settings

LOCK_NAME = "api.lock"


@dataclass(frozen=True, slots=True)
class CacheClaim:
    refusal: str | None  # why this process must not start
    warning: str | None  # said once at start-up, then it goes on
    held: IO[str] | None = None  # the open lock file: closed (released) when the process ends


def claim_cache(settings: Settings) -> CacheClaim:
    stores = settings.resolved_stores
    if stores.cache != "memory":
        return CacheClaim(refusal=None, warning=None)
    embedded = {stores.users, stores.posts, stores.graph, stores.timelines} == {"sqlite"}
    if not embedded:
        return CacheClaim(
            refusal=None,
            warning="MURMUR_STORES__CACHE=memory keeps a cache in this process only: right while "
            "it is the only API process on these stores; with more, use redis (or none)",
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = settings.data_dir / LOCK_NAME
    lock = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+")  # private, as the data
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        return CacheClaim(
            refusal=f"another Murmur API ({holder}) already serves {settings.data_dir} with an "
            "in-process cache, and two would serve each other's changes stale; run one API per "
            "data folder (workers may be many: `murmur worker`), or use MURMUR_STORES__CACHE=none",
            warning=None,
        )
    lock.truncate(0)
    lock.write(f"pid {os.getpid()}\n")
    lock.flush()
    return CacheClaim(refusal=None, warning=None, held=lock)
