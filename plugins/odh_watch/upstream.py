"""One upstream watch kept alive: reconnect with backoff and jitter, resume from the last
resourceVersion (bookmarks requested so it keeps moving while nothing changes)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from odh_core import KubeClient, KubeError, KubeUnavailable

from .backoff import backoff_delay
from .config import WatchConfig
from .lines import LineTooLong, read_lines
from .metrics import WatchMetrics
from .resources import Target

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp


# An event handler gets (type, object, the raw line), BOOKMARKs included, and must not await.
OnEvent = Callable[[str, dict[str, Any], bytes], None]


class Expired(Exception):
    """The resourceVersion is too old (410 Gone / Expired): relist."""

    def __init__(self, line: bytes | None = None):
        super().__init__("resource version expired")
        self.line = line  # the upstream ERROR event, to relay where that is the contract


class Denied(Exception):
    """The API server refused the watch itself (401/403/404/400): retrying will not help."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Transient(Exception):
    pass


def object_rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def numeric_rv(rv: str) -> int | None:
    """resourceVersions are opaque, but etcd's are integers; use that only when it holds."""
    return int(rv) if rv.isdigit() else None


class WatchStream:
    def __init__(self, kube: KubeClient, target: Target, token: Any, cfg: WatchConfig,
                 metrics: WatchMetrics, mode: str, on_event: OnEvent, log: logging.Logger):
        self.kube = kube
        self.target = target
        self.token = token
        self.cfg = cfg
        self.metrics = metrics
        self.mode = mode
        self.on_event = on_event
        self.log = log
        self.rv = ""
        self.connected = asyncio.Event()  # set while an upstream watch answered 200
        self._progressed = False

    async def run(self, rv: str) -> None:
        """Watch from `rv` until the caller cancels. Raises Expired (relist) or Denied."""
        import aiohttp

        self.rv = rv
        attempt = 0
        while True:
            started = time.monotonic()
            clean = True
            try:
                await self._once()
            except (_Transient, KubeUnavailable, aiohttp.ClientError, asyncio.TimeoutError,
                    LineTooLong, ValueError) as exc:
                clean = False
                self.log.info("upstream watch of %s broke (%s); resuming from %s",
                              self.target.describe(), type(exc).__name__, self.rv or "now")
            healthy = self._progressed or time.monotonic() - started > 5
            if healthy:
                attempt = 0
                if clean:
                    continue  # a clean end (timeoutSeconds): resume at once
            await asyncio.sleep(backoff_delay(attempt, self.cfg.backoff_initial_seconds,
                                              self.cfg.backoff_max_seconds))
            attempt += 1

    async def _once(self) -> None:
        self._progressed = False
        params = {"watch": "true", "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(self.cfg.upstream_timeout_seconds),
                  **self.target.selector_params()}
        if self.rv:
            params["resourceVersion"] = self.rv
        # The client-side read timeout backs up the server's timeoutSeconds, so a half-open
        # TCP connection is noticed; bookmarks and events keep a live one busy.
        timeout = self.kube.timeout(read=self.cfg.upstream_timeout_seconds + 30)
        async with self.kube.open("GET", self.target.collection_path, token=self.token,
                                  params=params, timeout=timeout,
                                  headers={"Accept": "application/json"}) as resp:
            if resp.status != 200:
                await self._fail(resp)
            self.metrics.upstream_open.labels(self.mode).inc()
            self.metrics.upstream_opened.labels(self.mode).inc()
            self.connected.set()
            try:
                async for line in read_lines(resp.content, self.cfg.max_line_bytes):
                    event = json.loads(line)
                    etype = event.get("type")
                    obj = event.get("object") or {}
                    if etype == "ERROR":
                        code = obj.get("code")
                        if code == 410:
                            raise Expired(line)
                        raise _Transient(f"watch ERROR event {code}: {obj.get('message')}")
                    rv = object_rv(obj)
                    self.on_event(etype, obj, line)  # BOOKMARK too: subscribers may want it
                    if rv:
                        self.rv = rv
                    self._progressed = True
            finally:
                self.connected.clear()
                self.metrics.upstream_open.labels(self.mode).dec()

    async def _fail(self, resp: aiohttp.ClientResponse) -> None:
        body = await resp.content.read(64 * 1024)
        try:
            status = json.loads(body)
            message = status.get("message") or ""
        except ValueError:
            status, message = {}, body[:200].decode("utf-8", "replace")
        if resp.status == 410:
            raise Expired()
        if resp.status in (400, 401, 403, 404, 422):
            raise Denied(resp.status, message or f"upstream watch refused ({resp.status})")
        raise _Transient(f"upstream watch answered {resp.status}")


def denied_from(exc: KubeError) -> Denied:
    return Denied(exc.status, exc.message)
