"""A small in-process rate limiter (GCRA: one timestamp per key).

Used where one caller could make the node spend without limit, such as the token
endpoint. Each process counts on its own, so a node run as N workers allows up to N
times the configured rate; that still bounds the cost, which is the point.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Allow ``per_minute`` requests per key, in bursts of up to that many."""

    # Forget keys that have been quiet for a while once this many are held, so a
    # flood of one-off keys (addresses) cannot grow the table without bound.
    MAX_KEYS = 100_000

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.window = 60.0
        self._clock = clock
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int | None:
        """Count one request for ``key``. None if it may go ahead, else the seconds
        to wait before the next one would be allowed (for ``Retry-After``)."""
        if self.per_minute <= 0:
            return None
        now = self._clock()
        with self._lock:
            theoretical = max(self._next.get(key, now), now)
            # Each request moves the key's theoretical time ahead by one interval; it
            # may run at most a window ahead of now.
            ahead = theoretical + self.interval - now
            if ahead > self.window:
                return max(1, math.ceil(ahead - self.window))
            if len(self._next) >= self.MAX_KEYS:
                self._next = {k: t for k, t in self._next.items() if t > now}
            self._next[key] = theoretical + self.interval
            return None
