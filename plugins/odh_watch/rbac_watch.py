"""Watch RBAC objects with the service account, so access reviews are repeated when a Role,
ClusterRole or binding changes, not only when the TTL runs out (a revoked user stops
receiving events within moments of the change).

Only the change matters, not the objects: each kind is listed with `limit=1` for a
resourceVersion and watched from there. A refused watch (the service account lacks the
rights) is said once in the log; the TTL then remains the bound.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from odh_core import SERVICE_ACCOUNT, KubeClient, KubeError, KubeUnavailable

from .backoff import backoff_delay
from .config import WatchConfig
from .metrics import WatchMetrics
from .resources import Target
from .upstream import Denied, Expired, WatchStream

MODE = "rbac"
KINDS = tuple(Target("rbac.authorization.k8s.io", "v1", plural) for plural in
              ("rolebindings", "clusterrolebindings", "roles", "clusterroles"))
# Several objects change together (a binding and its role, an operator reconciling):
# one round of reviews for the lot.
_SETTLE_SECONDS = 0.2


class RbacWatcher:
    def __init__(self, kube: KubeClient, cfg: WatchConfig, metrics: WatchMetrics,
                 log: logging.Logger, on_change: Callable[[], None]):
        self.kube = kube
        self.cfg = cfg
        self.metrics = metrics
        self.log = log
        self.on_change = on_change
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._watch(t), name=f"rbac watch {t.plural}")
                       for t in KINDS]

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._pending is not None:
            self._pending.cancel()

    def _changed(self, etype: str = "", *_: Any) -> None:
        if etype == "BOOKMARK":
            return  # progress, not a change
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(_SETTLE_SECONDS, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self.on_change()

    async def _watch(self, target: Target) -> None:
        attempt = 0
        while True:
            try:
                page = await self.kube.get(target.collection_path, token=SERVICE_ACCOUNT,
                                           params={"limit": "1"})
                rv = str((page.get("metadata") or {}).get("resourceVersion") or "")
                stream = WatchStream(self.kube, target, SERVICE_ACCOUNT, self.cfg, self.metrics,
                                     MODE, self._changed, self.log)
                attempt = 0
                await stream.run(rv)
            except Expired:
                self._changed()  # we may have missed a change while away
                continue
            except (Denied, KubeError) as exc:
                status = getattr(exc, "status", 0)
                if status in (401, 403, 404) or isinstance(exc, Denied):
                    self.log.warning("cannot watch %s with the service account (%s): access "
                                     "is re-checked on the TTL only", target.plural, status)
                    return
            except KubeUnavailable:
                pass
            await asyncio.sleep(backoff_delay(attempt, self.cfg.backoff_initial_seconds,
                                              self.cfg.backoff_max_seconds))
            attempt += 1
