"""The federation plugin: package BFFs (module federation) reached through odh-core."""
from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from odh_core import ApiError, HealthCheck, Plugin, PluginContext, Route, TargetRegistry, hookimpl

from .config import (FederationConfig, ModuleConfigError, check_against_routes, family,
                     fingerprint, parse_sources, read_text)
from .handlers import AssetHandler, ModulesHandler, ServiceHandler
from .modules import ModuleTable

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

# After every specific route (order 0), before an SPA fallback (which uses a higher number).
FAMILY_ROUTE_ORDER = 800


class FederationPlugin(Plugin):
    Config = FederationConfig
    config: FederationConfig

    def __init__(self, ctx: PluginContext):
        super().__init__(ctx)
        self.registry = TargetRegistry(ctx.metrics)
        self.table = ModuleTable(self.config, self.registry)
        self.probes: dict[str, str | None] = {}
        self.namespace = self.config.namespace or ctx.app.settings.kubernetes.dashboard_namespace
        self._watch_task: asyncio.Task[None] | None = None
        self._fingerprint: tuple[Any, ...] | None = None
        self._other_routes: list[str] = []
        # Built before the loop serves anything: reading the (small) file here is fine, and the
        # families of the modules known now decide which routes exist.
        text = None
        if self.config.config_file:
            try:
                text, self._fingerprint = read_text(self.config.config_file)
            except OSError as exc:
                self.log.warning("federation config_file %s is not readable yet (%s); it is "
                                 "picked up when it appears", self.config.config_file,
                                 exc.strerror)
        self._initial = parse_sources(self.config, self.namespace, text, self.config.config_file)
        families = {family(p.path) for m in self._initial for p in m.proxies}
        for prefix in self.config.proxy_prefixes:
            if not re.match(r"^(/[^/\s]+)+$", prefix.rstrip("/")):
                raise ModuleConfigError(f"proxy_prefixes: {prefix!r} is not an absolute path")
            families.add(prefix.rstrip("/"))
        self.table.families = frozenset(families)

    @hookimpl
    def register_routes(self) -> list[Route]:
        routes = [
            Route(r"/_mf/([^/]+)(/.*)?", AssetHandler, params=("module", "path"),
                  description="A federated module's assets from its asset server."),
            Route(r"/api/federation/modules", ModulesHandler,
                  description="Federated modules {name, remoteEntry} and their health."),
        ]
        for fam in sorted(self.table.families):
            routes.append(Route(re.escape(fam) + r"(?:/.*)?", ServiceHandler,
                                order=FAMILY_ROUTE_ORDER,
                                description=f"proxyService paths of federated modules under {fam}"))
        return routes

    @hookimpl
    async def startup(self, app: Any) -> None:
        self._other_routes = [r.pattern for plugin, r in app.routes if plugin != self.name]
        check_against_routes(self._initial, self._other_routes)
        self.table.apply(self._initial)
        del self._initial
        app.provide("federation.modules", self.table.listing)
        if self.config.config_file:
            self._watch_task = asyncio.ensure_future(self._watch())
        self.log.info("federation: %d module(s): %s", len(self.table.snapshot.modules),
                      ", ".join(self.table.snapshot.modules) or "none")

    @hookimpl
    async def shutdown(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)

    # -- config file reload ---------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_interval)  # a poll period, not a sync point
            try:
                await self.reload_if_changed()
            except Exception:  # keep watching whatever happened
                self.log.exception("federation: reloading %s failed", self.config.config_file)

    async def reload_if_changed(self) -> bool:
        """Re-read config_file when it changed (mtime/inode/size of the symlink's target)."""
        path = self.config.config_file
        assert path is not None
        fp = await asyncio.to_thread(fingerprint, path)
        if fp is None or fp == self._fingerprint:
            return False
        try:
            text, fp = await asyncio.to_thread(read_text, path)
            modules = parse_sources(self.config, self.namespace, text, path)
            check_against_routes(modules, self._other_routes)
        except (ModuleConfigError, OSError) as exc:
            self._fingerprint = fp  # report a bad version once, not every poll
            self.table.last_error = str(exc)
            self.log.error("federation: keeping the previous modules: %s", exc)
            return False
        self._fingerprint = fp
        self.table.last_error = None
        self.table.apply(modules)
        self.log.info("federation: reloaded %s: %d module(s)", path, len(modules))
        return True

    # -- health ---------------------------------------------------------------------------------
    @hookimpl
    def register_health_checks(self) -> list[HealthCheck]:
        return [HealthCheck("modules", self.check_modules, timeout=3.0, critical=False)]

    async def check_modules(self) -> None:
        """Each module's asset server answers its remoteEntry (below 500) and no breaker is
        open; a failure degrades /readyz, it does not fail it."""
        modules = list(self.table.snapshot.modules.values())

        async def probe(name: str) -> tuple[str, str | None]:
            import aiohttp

            try:
                target = self.table.asset_target(name)
            except ApiError:
                return name, None  # proxy-only module: nothing to fetch
            module = self.table.module(name)
            try:
                async with self.ctx.app.http.get(
                        target.url(module.remote_entry), ssl=target.ssl, allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(total=2.5)) as resp:
                    return name, None if resp.status < 500 else f"asset server answered {resp.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                return name, f"asset server unreachable ({type(exc).__name__})"

        self.probes = dict(await asyncio.gather(*(probe(m.name) for m in modules)))
        bad = [f"{n}: {p}" for n, p in self.probes.items() if p]
        bad += [f"{t.name}: circuit open" for t in self.registry.open_targets()]
        if self.table.last_error:
            bad.append(f"config_file: {self.table.last_error}")
        if bad:
            raise ApiError(503, "; ".join(bad))
