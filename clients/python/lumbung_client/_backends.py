"""The few calls that differ between the async code and its generated sync twin.

``_async/`` is written once against :class:`AsyncBackend` and :data:`AsyncLock`;
``scripts/unasync.py`` renames them to :class:`SyncBackend` and :data:`Lock` in
``_sync/``, so the same lines sleep, lock and read files in either world.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["AsyncBackend", "AsyncLock", "Lock", "SyncBackend"]

P = ParamSpec("P")
T = TypeVar("T")

#: Lets one task at a time fetch a token while the others wait.
AsyncLock = asyncio.Lock
#: Lets one thread at a time fetch a token while the others wait.
Lock = threading.Lock


class AsyncBackend:
    """Waiting and blocking work, for the event loop."""

    @staticmethod
    async def sleep(seconds: float) -> None:
        """Wait without blocking the loop."""
        await asyncio.sleep(seconds)

    @staticmethod
    async def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run disk work (hashing, fsync, reading a file) in a thread, off the loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)


class SyncBackend:
    """Waiting and blocking work, in the calling thread."""

    @staticmethod
    def sleep(seconds: float) -> None:
        """Wait."""
        time.sleep(seconds)

    @staticmethod
    def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` here: a sync client's caller already expects to block."""
        return fn(*args, **kwargs)
