"""The services plugin: gated ML service proxies and the Prometheus/Thanos pass-through, both
on the core's resilient proxy (`odh_core.resilience`), shared with the federation plugin."""
from __future__ import annotations

import re

from odh_core import (HeaderPolicy, Plugin, PluginContext, RetryPolicy, Route, Target,
                      TargetRegistry, TargetSettings, hookimpl)

from .config import ServicesConfig, ServiceSpec
from .gates import GateResolver, Resolved
from .handlers import GatedProxyHandler, PrometheusHandler

# (route below /api/prometheus, Thanos port, API) as the old dashboard backend served them.
PROMETHEUS_ROUTES = (
    ("query", "tenancy", "query"), ("queryRange", "tenancy", "query_range"),
    ("pvc", "tenancy", "query"), ("bias", "tenancy", "query_range"),
    ("serving", "tenancy", "query_range"),
    ("cluster/query", "cluster", "query"), ("cluster/queryRange", "cluster", "query_range"),
)


class ServicesPlugin(Plugin):
    Config = ServicesConfig
    config: ServicesConfig

    def __init__(self, ctx: PluginContext):
        super().__init__(ctx)
        self.services: dict[str, ServiceSpec] = self.config.effective_services()
        self.registry = TargetRegistry(ctx.metrics)
        self.resolver = GateResolver(self.config.cache_ttl,
                                     ctx.app.settings.kubernetes.dashboard_namespace)
        prom = self.config.prometheus
        self.prometheus: dict[str, Target] = {
            port: self.registry.ensure(f"prometheus-{port}", url, settings=TargetSettings(
                connect_timeout=self.config.connect_timeout, read_timeout=prom.timeout,
                retry=RetryPolicy(attempts=2), failure_threshold=self.config.failure_threshold,
                reset_timeout=self.config.reset_timeout, ca_file=self.config.ca_file))
            for port, url in (("tenancy", prom.tenancy_url), ("cluster", prom.cluster_url))}

    def target(self, resolved: Resolved, spec: ServiceSpec) -> Target:
        """The registry's target for a resolved address (breaker and metrics per object)."""
        return self.registry.ensure(resolved.target_name, resolved.url,
                                    policy=HeaderPolicy(authorize=spec.authorize),
                                    settings=self._settings)

    @property
    def _settings(self) -> TargetSettings:
        c = self.config
        return TargetSettings(connect_timeout=c.connect_timeout, read_timeout=c.read_timeout,
                              failure_threshold=c.failure_threshold,
                              reset_timeout=c.reset_timeout, ca_file=c.ca_file)

    @hookimpl
    async def shutdown(self) -> None:
        await self.resolver.watches.close()

    @hookimpl
    def register_routes(self) -> list[Route]:
        routes = []
        for key, spec in self.services.items():
            params = "".join(r"/([^/]+)" for _ in spec.path_params)
            shape = "".join(f"/:{p}" for p in spec.path_params)
            routes.append(Route(rf"/api/service/{re.escape(key)}{params}(/.*)?",
                                GatedProxyHandler, kwargs={"service": key},
                                params=(*spec.path_params, "path"),
                                description=f"Proxy to the {key} service{shape}/* as the user."))
        for path, port, api in PROMETHEUS_ROUTES:
            routes.append(Route(rf"/api/prometheus/{path}", PrometheusHandler,
                                kwargs={"port": port, "api": api},
                                description=f"Thanos {api} ({port} port) as the user."))
        return routes
