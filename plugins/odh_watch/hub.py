"""Per-app watch state: the informers by key, access reviews, discovery, the RBAC watch."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from odh_core import SERVICE_ACCOUNT, KubeClient, KubeError, KubeUnavailable

from .access import AccessReviews
from .config import WatchConfig
from .informer import Informer
from .metrics import WatchMetrics
from .rbac_watch import RbacWatcher
from .resources import Discovery, Target

# What an informer needs of its token on the target: the initial list, then the watch.
_INFORMER_VERBS = ("list", "watch")


class WatchHub:
    def __init__(self, kube: KubeClient, cfg: WatchConfig, metrics: WatchMetrics,
                 log: logging.Logger):
        self.kube = kube
        self.cfg = cfg
        self.metrics = metrics
        self.log = log
        # (None, target) for the service account's informers; (sha256(token), target) for
        # one user's (auto mode where the service account may not watch the target).
        self.informers: dict[tuple[bytes | None, Target], Informer] = {}
        self.access = AccessReviews(kube, cfg.access_ttl_seconds)
        self.discovery = Discovery(kube, cfg.discovery_ttl_seconds)
        # auto mode: may the service account list and watch this target? (verdict, expiry)
        self._sa_verdicts: dict[Target, tuple[bool, float]] = {}
        self._rbac: RbacWatcher | None = None

    async def service_account_may_watch(self, target: Target) -> bool:
        """Whether the service account may list and watch `target` (auto mode), cached for the
        access TTL and dropped on an RBAC change. An unanswered review counts as no: the
        subscriber then gets an upstream of its own, never more than its token allows."""
        if f"{target.plural}.{target.group}" in self.cfg.user_filtered_resources:
            return False  # the service account's list would show everyone everything
        hit = self._sa_verdicts.get(target)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            # fresh: the verdict is cached here, where an RBAC change can drop it.
            verdicts = await asyncio.gather(*(self.access.allowed(
                SERVICE_ACCOUNT, target, verb=verb, fresh=True) for verb in _INFORMER_VERBS))
        except (KubeError, KubeUnavailable) as exc:
            self.log.info("could not review the service account's access to %s (%s)",
                          target.describe(), exc)
            return False
        verdict = all(verdicts)
        if len(self._sa_verdicts) >= 10_000:
            self._sa_verdicts.clear()  # bounded; a miss costs one (cached) review
        self._sa_verdicts[target] = (verdict, now + self.cfg.access_ttl_seconds)
        return verdict

    def service_account_lost(self, target: Target) -> None:
        """Its informer was refused: the next subscriber asks again (and falls back)."""
        self._sa_verdicts.pop(target, None)

    def informer(self, target: Target, start_rv: str, *, mode: str,
                 token: Any = SERVICE_ACCOUNT) -> Informer:
        """The running informer for `target` with `token` (started on first use), held for a
        subscriber. A user's token is keyed by its hash, never by the token itself."""
        owner = None if token is SERVICE_ACCOUNT else hashlib.sha256(token.encode()).digest()
        key = (owner, target)
        inf = self.informers.get(key)
        if inf is None:
            inf = self.informers[key] = Informer(self, target, start_rv, token, mode, key)
            inf.start()
            self._watch_rbac()
        inf.hold()
        return inf

    def forget(self, inf: Informer) -> None:
        if self.informers.get(inf.key) is inf:
            del self.informers[inf.key]

    def _watch_rbac(self) -> None:
        if self._rbac is None and self.cfg.recheck_on_rbac_change:
            self._rbac = RbacWatcher(self.kube, self.cfg, self.metrics, self.log,
                                     self.rbac_changed)
            self._rbac.start()

    def rbac_changed(self) -> None:
        """A Role, ClusterRole or binding changed: every verdict may be stale."""
        self._sa_verdicts.clear()
        for inf in list(self.informers.values()):
            inf.recheck_soon()

    def close(self) -> None:
        if self._rbac is not None:
            self._rbac.close()
        for inf in list(self.informers.values()):
            inf.close()
