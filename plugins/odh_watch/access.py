"""Access reviews with the subscriber's own token (or the service account's), cached per (token, target) for a TTL and
de-duplicated while in flight (a thousand tabs of one user cost one review)."""
from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from odh_core import KubeClient

from .resources import Target

_MAX_ENTRIES = 10_000


class AccessReviews:
    def __init__(self, kube: KubeClient, ttl: float):
        self.kube = kube
        self.ttl = ttl
        self._cache: dict[tuple[Any, ...], tuple[bool, float]] = {}
        self._inflight: dict[tuple[Any, ...], asyncio.Future[bool]] = {}

    async def allowed(self, token: Any, target: Target, *, verb: str = "watch",
                      name: str | None = None, subresource: str | None = None,
                      fresh: bool = False) -> bool:
        # Never the token itself as a key: a hash, so a heap dump holds no usable secret twice.
        who = hashlib.sha256(token.encode()).digest() if isinstance(token, str) else token
        key = (who, verb, target.group, target.plural,
               target.namespace, name, subresource)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and not fresh and hit[1] > now:
            return hit[0]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await self.kube.access_review(
                token, verb=verb, resource=target.plural, group=target.group,
                namespace=target.namespace or None, name=name, subresource=subresource)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        else:
            fut.set_result(result)
            if len(self._cache) >= _MAX_ENTRIES:
                self._prune(now)
            self._cache[key] = (result, now + self.ttl)
            return result
        finally:
            self._inflight.pop(key, None)

    def _prune(self, now: float) -> None:
        for k in [k for k, (_, exp) in self._cache.items() if exp <= now]:
            del self._cache[k]
        while len(self._cache) >= _MAX_ENTRIES:
            del self._cache[next(iter(self._cache))]
