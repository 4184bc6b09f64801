"""A per-client token bucket: the public scan and verify-bundle endpoints spend one token a request,
failed authentication one a wrong key (per process: N workers allow N x rate)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """``per_minute`` requests per key, refilled evenly; a fresh key may spend a whole minute's
    worth at once (so with 10, the 11th rapid request waits). 0 means no limit."""

    def __init__(
        self, per_minute: int, max_clients: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1.0, float(per_minute))
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max = max_clients
        self._lock = threading.Lock()
        self._clock = clock

    def check(self, key: str) -> float:
        """0 when the request may go ahead (it spends a token), else the seconds to wait before retrying."""
        return self._take(key, spend=True)

    def wait(self, key: str) -> float:
        """As ``check``, spending nothing: 0 while ``key`` has a token left, else the seconds until it has."""
        return self._take(key, spend=False)

    def _take(self, key: str, spend: bool) -> float:
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens < 1:
                wait = (1 - tokens) / self.rate
            elif spend:
                tokens -= 1
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return wait
