"""WatchPlugin: routes, startup/shutdown of the per-app watch state."""
from __future__ import annotations

from typing import Any

from odh_core import Plugin, Route, hookimpl

from .config import WatchConfig
from .handlers import LogsHandler, SimpleWatchHandler, WatchHandler
from .hub import WatchHub
from .metrics import WatchMetrics


class WatchPlugin(Plugin):
    """/wss/k8s watches (informers per key, shared or per user) and pod log streaming."""

    Config = WatchConfig

    def __init__(self, ctx: Any):
        super().__init__(ctx)
        self.metrics = WatchMetrics.create(ctx.metrics)
        self.hub: WatchHub | None = None  # the default cluster's
        self._hubs: dict[str, WatchHub] = {}  # named clusters', made on first use

    @hookimpl
    def register_routes(self) -> list[Route]:
        return [
            Route(r"/wss/k8s/watch", SimpleWatchHandler,
                  description="Watch by resource name: ?resource=&namespace=&labelSelector="
                              "&fieldSelector=&resourceVersion= (one event per frame)."),
            Route(r"/wss/k8s/logs", LogsHandler,
                  description="Pod logs: ?namespace=&pod=&container=&follow=&tailLines= "
                              "(one line per frame)."),
            Route(r"/wss/k8s(/apis?/.+)", WatchHandler, order=10, params=("path",),
                  description="A Kubernetes watch relayed as WebSocket frames, one watch "
                              "event per frame."),
            Route(r"/wss/clusters/(?P<cluster>[^/]+)/k8s(?P<path>/apis?/.+)", WatchHandler,
                  order=10, description="The same watch on a named cluster "
                                        "(kubernetes.clusters)."),
        ]

    def hub_for(self, cluster: str) -> WatchHub:
        """The watch state of one cluster: informers never mix clusters."""
        if cluster == "default":
            assert self.hub is not None
            return self.hub
        hub = self._hubs.get(cluster)
        if hub is None:
            kube = self.ctx.app.kube_for(cluster)  # 404 for an unknown cluster
            hub = self._hubs[cluster] = WatchHub(kube, self.config, self.metrics, self.log)
        return hub

    @hookimpl
    async def startup(self, app: Any) -> None:
        self.hub = WatchHub(app.kube, self.config, self.metrics, self.log)
        self.log.info("watch mode: %s", self.config.mode)

    @hookimpl
    async def shutdown(self, app: Any) -> None:
        if self.hub is not None:
            self.hub.close()
        for hub in self._hubs.values():
            hub.close()
