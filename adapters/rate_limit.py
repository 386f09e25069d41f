"""In-process rate limiter (fixed window). The PostgreSQL one lives in adapters.sqlalchemy."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from domain.ports import RateDecision, RateLimit


class InMemoryRateLimiter:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self._now = monotonic
        self._windows: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, rule: RateLimit) -> RateDecision:
        now = self._now()
        window = int(now // rule.window_seconds)
        with self._lock:
            if len(self._windows) >= self._max_keys:
                self._windows = {k: v for k, v in self._windows.items() if k[1] >= window}
            count = self._windows.get((key, window), 0) + 1
            self._windows[(key, window)] = count
        retry_after = max(1, math.ceil((window + 1) * rule.window_seconds - now))
        allowed = count <= rule.limit
        return RateDecision(allowed, max(0, rule.limit - count), 0 if allowed else retry_after)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
