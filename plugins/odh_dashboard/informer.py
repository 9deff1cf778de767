"""A watch-fed cache of the objects at one list path (an informer), kept by the service account.

List once, then watch from the list's resourceVersion; a watch that ends (timeout, dropped
connection) resumes from the last resourceVersion seen; a 410 (`ERROR` event with code 410, or
an HTTP 410) means the history is gone, so it lists again. Nothing polls: after the first list
the only traffic is the open watch, so readers (`get`, `items`) cost no API call.

Generic on purpose: any dashboard route that serves "the objects of kind X" can own one.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any, Callable
from urllib.parse import urlencode

from odh_core import SERVICE_ACCOUNT, KubeClient, KubeError, KubeUnavailable

log = logging.getLogger("odh.plugin.dashboard.informer")

# Upper bound of one watch line: an OdhDashboardConfig or a ConfigMap is far below this; a
# larger line is a broken stream, not something to buffer.
MAX_LINE = 8 * 2**20


class Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


class Informer:
    """Objects under `path` (a list URL), by `namespace/name`, fed by list + watch."""

    def __init__(self, kube: KubeClient, path: str, *, field_selector: str | None = None,
                 label_selector: str | None = None, watch_timeout: int = 300,
                 min_backoff: float = 0.2, max_backoff: float = 30.0,
                 on_change: Callable[[], None] | None = None):
        self.kube = kube
        self.path = path
        self.selectors = {k: v for k, v in (("fieldSelector", field_selector),
                                            ("labelSelector", label_selector)) if v}
        self.watch_timeout = watch_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.on_change = on_change
        self.objects: dict[str, dict[str, Any]] = {}
        self.resource_version: str | None = None
        self.synced = asyncio.Event()      # set after the first successful list
        self.last_error: str | None = None
        self.lists = 0                      # how many times it listed (tests, metrics)
        self._task: asyncio.Task[None] | None = None
        # Set while the task waits somewhere cancelling it is clean (reading an open stream,
        # sleeping). Cancelling a request while its connection (TLS handshake) is being set up
        # can leave the socket unclosed, so `stop` waits for such a point first.
        self._cancel_safe: asyncio.Event | None = None
        self._resp: Any = None              # the open watch response, to abort on stop

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    def key(obj: dict[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"

    def get(self, name: str, namespace: str = "") -> dict[str, Any] | None:
        return self.objects.get(f"{namespace}/{name}")

    def items(self) -> list[dict[str, Any]]:
        return list(self.objects.values())

    async def wait_synced(self, timeout: float) -> bool:
        """True once the first list landed; False if it did not within `timeout`."""
        if self.synced.is_set():
            return True
        try:
            await asyncio.wait_for(self.synced.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def put(self, obj: dict[str, Any]) -> None:
        """Store an object a route just read or wrote (newer than what the watch has shown).

        resourceVersions are opaque, so "newer" cannot be compared in general; the watch will
        deliver the same object (or a later one) shortly and overwrite this.
        """
        self.objects[self.key(obj)] = obj
        self._changed()

    def discard(self, name: str, namespace: str = "") -> None:
        self.objects.pop(f"{namespace}/{name}", None)
        self._changed()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._cancel_safe = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name=f"informer {self.path}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            if self._cancel_safe is not None and not task.done():
                safe = asyncio.ensure_future(self._cancel_safe.wait())
                await asyncio.wait({safe, task}, timeout=self.kube.connect_timeout + 1,
                                   return_when=asyncio.FIRST_COMPLETED)
                safe.cancel()
            # Abort (not close) the open watch's socket: a graceful TLS close needs the loop
            # for a round trip, and a test's loop may end first, leaving the socket unclosed.
            transport = getattr(getattr(self._resp, "connection", None), "transport", None)
            if transport is not None:
                transport.abort()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(0)  # let the aborted transport's connection_lost run

    async def _run(self) -> None:
        backoff = self.min_backoff
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
                backoff = self.min_backoff  # a watch that ended normally: resume at once
            except Gone:
                self.resource_version = None
            except asyncio.CancelledError:
                raise
            except (KubeError, KubeUnavailable) as exc:
                self.last_error = exc.message
                if isinstance(exc, KubeError) and exc.status == 410:
                    self.resource_version = None
                    continue
                if isinstance(exc, KubeError) and exc.status == 404 and \
                        self.resource_version is None:
                    # The type is not served (CRD not installed): that is a definite answer,
                    # "no objects"; keep asking now and then, the CRD may arrive later.
                    if self.objects:
                        self.objects = {}
                        self._changed()
                    self.synced.set()
                    backoff = self.max_backoff
                log.warning("informer %s: %s; retrying in %.1fs", self.path, exc.message,
                            backoff)
                await self._sleep(backoff * (0.5 + random.random() / 2))
                backoff = min(backoff * 2, self.max_backoff)
            except Exception as exc:  # keep the cache alive whatever one event looked like
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("informer %s failed; retrying in %.1fs", self.path, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _safe(self, value: bool) -> None:
        if self._cancel_safe is not None:
            (self._cancel_safe.set if value else self._cancel_safe.clear)()

    async def _sleep(self, seconds: float) -> None:
        self._safe(True)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._safe(False)

    async def _list(self) -> None:
        body = await self.kube.json("GET", self.path, token=SERVICE_ACCOUNT,
                                    params=self.selectors or None)
        self.objects = {self.key(o): o for o in body.get("items") or []}
        self.resource_version = (body.get("metadata") or {}).get("resourceVersion") or None
        self.lists += 1
        self.last_error = None
        self.synced.set()
        self._changed()

    async def _watch(self) -> None:
        params = dict(self.selectors, watch="true", allowWatchBookmarks="true",
                      timeoutSeconds=str(self.watch_timeout))
        if self.resource_version:
            params["resourceVersion"] = self.resource_version
        path = f"{self.path}?{urlencode(params)}"
        # No read timeout beyond the server-side timeoutSeconds (+ slack): bookmarks and
        # events may be minutes apart on a quiet object.
        timeout = self.kube.timeout(read=self.watch_timeout + 30)
        async with self.kube.open("GET", path, token=SERVICE_ACCOUNT, timeout=timeout,
                                  headers={"Accept": "application/json"}) as resp:
            self._resp = resp
            try:
                await self._stream(resp)
            finally:
                self._resp = None

    async def _stream(self, resp: Any) -> None:
        if resp.status == 410:
            raise Gone()
        if resp.status >= 400:
            body = await resp.read()
            try:
                status = json.loads(body)
            except ValueError:
                status = None
            msg = (status or {}).get("message") if isinstance(status, dict) else None
            raise KubeError(resp.status, msg or f"watch answered {resp.status}",
                            status if isinstance(status, dict) else None)
        while True:
            self._safe(True)
            try:
                line = await resp.content.readline()
            finally:
                self._safe(False)
            if not line:
                return  # the server ended the watch (timeoutSeconds): resume
            if len(line) > MAX_LINE:
                raise KubeUnavailable("watch event larger than the informer accepts")
            line = line.strip()
            if line:
                self._apply(json.loads(line))

    def _apply(self, event: dict[str, Any]) -> None:
        etype, obj = event.get("type"), event.get("object") or {}
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise KubeError(int(obj.get("code") or 500), obj.get("message") or "watch error", obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = rv
        if etype == "BOOKMARK":
            return
        if etype == "DELETED":
            self.objects.pop(self.key(obj), None)
        elif etype in ("ADDED", "MODIFIED"):
            if _older(obj, self.objects.get(self.key(obj))):
                return  # a route already stored a later version (its own write)
            self.objects[self.key(obj)] = obj
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


def _older(new: dict[str, Any], cached: dict[str, Any] | None) -> bool:
    """True when `new` is provably older than `cached`.

    resourceVersions are opaque by contract; every real API server (etcd revisions) and the
    sandbox use integers, so compare only when both are, and otherwise take the event.
    """
    if cached is None:
        return False
    a = (new.get("metadata") or {}).get("resourceVersion", "")
    b = (cached.get("metadata") or {}).get("resourceVersion", "")
    return a.isdigit() and b.isdigit() and int(a) < int(b)
