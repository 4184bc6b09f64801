"""A per-client token bucket for the public scan endpoints (per process: N workers allow N x rate)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class RateLimiter:
    """``per_minute`` requests per key, refilled evenly; a fresh key may spend a whole minute's
    worth at once (so with 10, the 11th rapid request waits). 0 means no limit."""

    def __init__(self, per_minute: int, max_clients: int = 100_000, clock: object = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1.0, float(per_minute))
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max = max_clients
        self._lock = threading.Lock()
        self._clock = clock

    def check(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()  # type: ignore[operator]
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return wait
