"""Per-user limits: a token bucket for request rate and a count of open streams.

State is per App (two apps never share buckets) and bounded: the least recently seen users'
buckets are dropped past `max_users_tracked`. Limits are per replica; a cluster-wide rate
limit belongs in the ingress.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable

from prometheus_client import Counter

from .config import LimitsConfig
from .errors import ApiError

if TYPE_CHECKING:  # pragma: no cover
    from .observability import Metrics


class UserLimits:
    def __init__(self, cfg: LimitsConfig, metrics: "Metrics",
                 clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._streams: dict[str, int] = {}
        self.rejections = Counter("odh_limit_rejections_total",
                                  "Requests refused by a per-user limit.", ["limit"],
                                  registry=metrics.registry)

    @property
    def rate_limited(self) -> bool:
        return self.cfg.requests_per_second > 0

    def take(self, user: str) -> float | None:
        """Spend one token; None when allowed, else the seconds until the next token."""
        rate, burst = self.cfg.requests_per_second, float(self.cfg.burst)
        now = self.clock()
        tokens, last = self._buckets.pop(user, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        wait = None
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        self._buckets[user] = (tokens, now)
        while len(self._buckets) > self.cfg.max_users_tracked:
            self._buckets.popitem(last=False)
        return wait

    def check_rate(self, user: str) -> None:
        wait = self.take(user)
        if wait is not None:
            self.rejections.labels("rate").inc()
            raise ApiError(429, "too many requests: slow down",
                           headers={"Retry-After": str(max(1, int(wait + 0.999)))})

    def acquire_stream(self, user: str, kind: str, exempt: bool = False) -> Callable[[], None]:
        limit = self.cfg.concurrent_streams
        if not exempt and self.at_stream_limit(user):
            self.rejections.labels("streams").inc()
            raise ApiError(429, f"too many open streams ({limit}); close one and retry",
                           headers={"Retry-After": "1"})
        self._streams[user] = self._streams.get(user, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                left = self._streams.get(user, 1) - 1
                if left > 0:
                    self._streams[user] = left
                else:
                    self._streams.pop(user, None)

        return release

    def at_stream_limit(self, user: str) -> bool:
        limit = self.cfg.concurrent_streams
        return bool(limit) and self._streams.get(user, 0) >= limit

    def open_streams(self, user: str) -> int:
        return self._streams.get(user, 0)
