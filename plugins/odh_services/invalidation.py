"""Watches that drop cached gate answers when their gating object changes.

One watch per (gating kind, namespace), as the service account, started from the
resourceVersion of the object just read, and kept while answers for that kind and namespace
may still be cached (their TTL); it reconnects from the last resourceVersion if it drops. A
403 (the service account may not watch that kind) is remembered: the TTL then bounds
staleness on its own.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from odh_core import SERVICE_ACCOUNT

if TYPE_CHECKING:  # pragma: no cover
    from .config import GateSpec

log = logging.getLogger("odh.plugin.services.invalidation")
MAX_LINE = 8 * 2**20


class GateWatches:
    def __init__(self, on_change: Callable[["GateSpec", str, str], None],
                 clock: Callable[[], float] = time.monotonic):
        self.on_change = on_change
        self.clock = clock
        self._watches: dict[tuple[str, str, str, str], "_Watch"] = {}
        self._forbidden: set[tuple[str, str, str, str]] = set()

    def ensure(self, kube: Any, gate: "GateSpec", namespace: str, rv: str, until: float) -> None:
        key = (gate.group, gate.version, gate.plural, namespace)
        if key in self._forbidden:
            return
        watch = self._watches.get(key)
        if watch is not None and not watch.task.done():
            watch.until = max(watch.until, until)
            return
        self._watches[key] = _Watch(self, kube, gate, namespace, rv, until)

    async def close(self) -> None:
        tasks = [w.task for w in self._watches.values()]
        self._watches.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Watch:
    def __init__(self, owner: GateWatches, kube: Any, gate: "GateSpec", namespace: str,
                 rv: str, until: float):
        self.owner, self.kube, self.gate, self.namespace = owner, kube, gate, namespace
        self.rv, self.until = rv, until
        self.task = asyncio.ensure_future(self.run())

    @property
    def path(self) -> str:
        g = self.gate
        base = f"/apis/{g.group}/{g.version}" if g.group else f"/api/{g.version}"
        ns = f"/namespaces/{self.namespace}" if self.namespace else ""
        return f"{base}{ns}/{g.plural}"

    async def run(self) -> None:
        key = (self.gate.group, self.gate.version, self.gate.plural, self.namespace)
        failures = 0
        while self.owner.clock() < self.until:
            seconds = max(1, int(self.until - self.owner.clock()) + 1)
            params = {"watch": "true", "resourceVersion": self.rv,
                      "timeoutSeconds": str(seconds), "allowWatchBookmarks": "true"}
            try:
                async with self.kube.open("GET", self.path, token=SERVICE_ACCOUNT, params=params,
                                          timeout=self.kube.timeout(read=seconds + 30)) as resp:
                    if resp.status == 403:
                        self.owner._forbidden.add(key)
                        log.info("no watch on %s (service account may not): TTL only", self.path)
                        return
                    if resp.status != 200:
                        raise RuntimeError(f"watch answered {resp.status}")
                    failures = 0
                    while True:
                        line = await resp.content.readline()
                        if not line:
                            break
                        self.event(json.loads(line))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the TTL still bounds staleness while we retry
                failures += 1
                log.debug("gate watch on %s broke: %s", self.path, exc)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))

    def event(self, ev: dict[str, Any]) -> None:
        obj = ev.get("object") or {}
        meta = obj.get("metadata") or {}
        if ev.get("type") == "ERROR":
            self.rv = ""  # too old (410): start over from now; cached answers are dropped
            self.owner.on_change(self.gate, self.namespace, "*")
            return
        if meta.get("resourceVersion"):
            self.rv = meta["resourceVersion"]
        if ev.get("type") in ("MODIFIED", "DELETED"):
            self.owner.on_change(self.gate, meta.get("namespace", self.namespace) or "",
                                 meta.get("name", ""))
