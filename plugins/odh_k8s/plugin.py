"""The plugin class: one route, the pass-through."""
from __future__ import annotations

from odh_core import Plugin, Route, hookimpl

from .config import K8sConfig
from .handlers import KubeProxyHandler


class K8sPlugin(Plugin):
    Config = K8sConfig

    @hookimpl
    def register_routes(self) -> list[Route]:
        return [Route(r"/api/k8s/(.*)", KubeProxyHandler, name="k8s-proxy", params=("path",),
                      description="Kubernetes API pass-through as the caller (their token): "
                      "bodies stream both ways untouched, upstream status and Status bodies "
                      "come back as they were."),
                Route(r"/api/clusters/(?P<cluster>[^/]+)/k8s/(?P<path>.*)", KubeProxyHandler,
                      name="k8s-proxy-cluster",
                      description="The same pass-through to a named cluster "
                      "(kubernetes.clusters); identity is checked by that cluster.")]
