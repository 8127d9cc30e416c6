"""Count every store operation, per store and operation, without touching each method."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from murmur.domain import DomainError
from murmur.metrics import STORE_ERRORS, STORE_OPERATIONS

C = TypeVar("C", bound=type)


def counted(store: str) -> Callable[[C], C]:
    """Class decorator: wrap each public coroutine method to count its calls and failures.

    The labelled counters are bound once here, so a call costs two increments.
    """

    def decorate(cls: C) -> C:
        for name, method in list(vars(cls).items()):
            if name.startswith("_") or not inspect.iscoroutinefunction(method):
                continue
            setattr(cls, name, _count(method, store, name))
        return cls

    return decorate


def _count(
    method: Callable[..., Awaitable[Any]], store: str, operation: str
) -> Callable[..., Awaitable[Any]]:
    calls = STORE_OPERATIONS.labels(store, operation)
    errors = STORE_ERRORS.labels(store, operation)

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.inc()
        try:
            return await method(*args, **kwargs)
        except DomainError:
            raise  # an expected answer (not found, taken), not a store failure
        except Exception:
            errors.inc()
            raise

    return wrapper
