"""Per-app watch state: the shared informers by target, access reviews, discovery."""
from __future__ import annotations

import logging

from odh_core import KubeClient

from .access import AccessReviews
from .config import WatchConfig
from .informer import Informer
from .metrics import WatchMetrics
from .resources import Discovery, Target


class WatchHub:
    def __init__(self, kube: KubeClient, cfg: WatchConfig, metrics: WatchMetrics,
                 log: logging.Logger):
        self.kube = kube
        self.cfg = cfg
        self.metrics = metrics
        self.log = log
        self.informers: dict[Target, Informer] = {}
        self.access = AccessReviews(kube, cfg.access_ttl_seconds)
        self.discovery = Discovery(kube, cfg.discovery_ttl_seconds)

    def informer(self, target: Target, start_rv: str) -> Informer:
        """The running informer for `target` (started on first use), held for a subscriber."""
        inf = self.informers.get(target)
        if inf is None:
            inf = self.informers[target] = Informer(self, target, start_rv)
            inf.start()
        inf.hold()
        return inf

    def forget(self, inf: Informer) -> None:
        if self.informers.get(inf.target) is inf:
            del self.informers[inf.target]

    def close(self) -> None:
        for inf in list(self.informers.values()):
            inf.close()
