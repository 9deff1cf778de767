"""The app's outbound HTTP sessions (aiohttp): one for the API server, one for everything else.

aiohttp is the largest import odh-core has (a tenth of a second on a fast machine: it builds
two default TLS contexts at import, reading the system CA bundle), and nothing the server does
before it listens needs it. So no module imports it at boot: `warm()` imports it in a worker
thread (the app calls it once its start is over: the server listens by then), and the sessions
are made on first use. Coroutines `await ready()` first, so the loop never waits for the import;
a synchronous caller that comes before the import finished (rare: a request in the first
instants) imports it on the spot.
"""
from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp


class Sessions:
    def __init__(self) -> None:
        self._http: aiohttp.ClientSession | None = None
        self._kube: aiohttp.ClientSession | None = None
        self._warm: asyncio.Future[object] | None = None
        self._closed = False

    def warm(self) -> None:
        """Start importing aiohttp off the loop (call on the loop)."""
        if self._warm is None:
            self._warm = asyncio.ensure_future(asyncio.to_thread(importlib.import_module,
                                                                 "aiohttp"))

    async def ready(self) -> None:
        """Return once aiohttp is imported (at once, after the first time)."""
        self.warm()
        warm = self._warm
        if warm is not None and not warm.done():
            await asyncio.shield(warm)

    @property
    def http(self) -> aiohttp.ClientSession:
        """For services, package BFFs, the outside. trust_env=False: with it aiohttp looks up
        proxy env vars in a worker thread on every request (a thread hop per proxied call), and
        in-cluster services must not go through a corporate proxy anyway; plugins that reach
        the outside (S3, the HF hub) pass their configured proxy per request."""
        if self._http is None:
            self._check_open()
            self._http = _session(limit=1000)
        return self._http

    @property
    def kube(self) -> aiohttp.ClientSession:
        """For the API server(s): unbounded (watches hold a connection each), kept alive."""
        if self._kube is None:
            self._check_open()
            self._kube = _session(limit=0, keepalive_timeout=60)
        return self._kube

    def _check_open(self) -> None:
        # A task that outlives the app's stop must fail as on a closed aiohttp session, not
        # open a new session that nobody closes (its connections would leak).
        if self._closed:
            raise RuntimeError("the app is stopped: its HTTP sessions are closed")

    async def close(self) -> None:
        self._closed = True
        if self._warm is not None and not self._warm.done():
            await asyncio.shield(self._warm)  # a thread cannot be cancelled: let it finish
        for session in (self._http, self._kube):
            if session is not None:
                await session.close()
        self._http = self._kube = None


def _session(*, limit: int, keepalive_timeout: float = 15.0) -> aiohttp.ClientSession:
    import aiohttp

    # On Pythons before 3.12.8 an SSL transport whose shutdown the peer never completes is
    # leaked (cpython#118960): aiohttp then aborts such transports itself, and at close.
    cleanup = bool(getattr(aiohttp.connector, "NEEDS_CLEANUP_CLOSED", False))
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0,
                                       keepalive_timeout=keepalive_timeout,
                                       enable_cleanup_closed=cleanup),
        trust_env=False, auto_decompress=False)
