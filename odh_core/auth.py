"""Who is calling (identity) — kept apart from what they may do (authorization, `authorize`).

A token is validated by the cluster itself (SelfSubjectReview with that token) and the answer
cached per token hash for a short TTL with a size bound, so a busy UI costs one API call per
token per TTL instead of two or three per request. Concurrent requests with the same new token
share one review.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Generic, Mapping, TypeVar

T = TypeVar("T")

WS_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."


@dataclass(frozen=True)
class Identity:
    """A caller. `token` is what odh-core acts on the cluster with on their behalf."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    token: str | None = field(default=None, repr=False, compare=False)
    provider: str = "token"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)
    cluster: str = "default"  # the cluster that vouched for this identity

    @property
    def token_key(self) -> str:
        """A cache key for this caller that never contains the token itself."""
        key = token_hash(self.token) if self.token else f"user:{self.username}"
        return key if self.cluster == "default" else f"{self.cluster}:{key}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_from(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or None


def token_from_headers(headers: Mapping[str, str], names: list[str]) -> str | None:
    """First token among the configured headers; `authorization` must say Bearer."""
    for name in names:
        raw = headers.get(name)
        if not raw:
            continue
        if name.lower() == "authorization":
            if raw[:7].lower() != "bearer ":
                continue
        token = bearer_from(raw)
        if token:
            return token
    return None


def token_from_subprotocols(protocols: str | None) -> str | None:
    """The k8s WebSocket convention: `base64url.bearer.authorization.k8s.io.<b64url token>`."""
    for proto in (protocols or "").split(","):
        proto = proto.strip()
        if proto.startswith(WS_TOKEN_PREFIX):
            encoded = proto[len(WS_TOKEN_PREFIX):]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                return None
    return None


def identity_bytes(identity: Identity) -> int:
    """About what an identity holds in memory (its token dominates), for byte-bounded caches."""
    return 256 + len(identity.token or "") + len(identity.username) + sum(
        len(g) + 56 for g in identity.groups)


class TTLCache(Generic[T]):
    """A bounded LRU whose entries expire; `get_or_load` shares one load per key.

    Bounded by entries and, with `sizeof`, by bytes: keys should be fixed-size hashes, so a
    client cannot grow the cache by sending long values.
    """

    def __init__(self, ttl: float, maxsize: int, clock: Callable[[], float] = time.monotonic,
                 *, maxbytes: int | None = None, sizeof: Callable[[T], int] | None = None):
        self.ttl = ttl
        self.maxsize = maxsize
        self.clock = clock
        self.maxbytes = maxbytes
        self.sizeof = sizeof
        self.bytes = 0
        self._data: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[T]] = {}

    def _size(self, value: T) -> int:
        return self.sizeof(value) if self.sizeof is not None else 0

    def _drop(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self.bytes -= self._size(item[1])

    def get(self, key: str) -> T | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < self.clock():
            self._drop(key)
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: str, value: T, ttl: float | None = None) -> None:
        self._drop(key)
        self._data[key] = (self.clock() + (self.ttl if ttl is None else ttl), value)
        self.bytes += self._size(value)
        while self._data and (len(self._data) > self.maxsize or (
                self.maxbytes is not None and self.bytes > self.maxbytes)):
            self._drop(next(iter(self._data)))

    def discard(self, key: str) -> None:
        self._drop(key)

    def __len__(self) -> int:
        return len(self._data)

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        hit = self.get(key)
        if hit is not None:
            return hit
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._loading[key] = fut
        try:
            value = await load()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        else:
            fut.set_result(value)
            self.put(key, value)
            return value
        finally:
            self._loading.pop(key, None)
