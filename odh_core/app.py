"""The application: loads plugins, builds the Tornado app, runs startup/shutdown and draining.

`App` is also the facade hooks receive as `app`: settings, the Kubernetes client, the outbound
HTTP session, metrics, other plugins' published services (`provide`/`service`) and the sandbox.
Everything lives on the instance: two apps in one process share nothing.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import re
import secrets
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import tornado.web

from . import loader
from .auth import Identity
from .config import Settings
from .errors import ApiError
from .http_policy import HttpPolicy
from .limits import UserLimits
from .kube import KubeClient, KubeConnection, resolve_connection
from .observability import Metrics, make_log_function
from .openapi import core_version
from .plugin import HealthCheck, Plugin, PluginContext, Route
from .sessions import Sessions
from .web import BaseHandler, BaseWebSocketHandler

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

log = logging.getLogger("odh.app")


class App:
    def __init__(self, settings: Settings, *, extra_plugins: Sequence[tuple[str, type[Plugin]]] = (),
                 entry_points: Iterable[Any] | None = None,
                 kube_connection: KubeConnection | None = None):
        self.settings = settings
        self.metrics = Metrics()
        self.pm = loader.new_plugin_manager()
        self.plugins: dict[str, loader.PluginInfo] = {}
        self._services: dict[str, Any] = {}
        self._kube: KubeClient | None = None
        self._clusters: dict[str, KubeClient] = {}  # the named extra clusters
        self._kube_connection = kube_connection
        self.sessions: Sessions | None = None  # outbound HTTP, from start() to stop()
        self.sandbox: Any = None  # odh_sandboxing.SandboxManager when embedding
        self.tls: Any = None  # odh_core.tls.TlsReloader when serving HTTPS
        self.websockets: set[BaseWebSocketHandler] = set()
        self.inflight = 0
        self.draining = False
        self._drained: asyncio.Event | None = None  # created on the loop in drain()
        self.started_at = time.time()
        # Users a token-less request may act as in dev mode (the sandbox adds its seed users).
        self.dev_users = dict(settings.auth.dev_users)
        self.cookie_secret = (settings.server.cookie_secret.get_secret_value()
                              if settings.server.cookie_secret else secrets.token_hex(32))
        self.http_policy = HttpPolicy(settings.server)
        self.limits = UserLimits(settings.limits, self.metrics)
        self._load_plugins(extra_plugins, entry_points)
        self._impls = {name: list(reversed(getattr(self.pm.hook, name).get_hookimpls()))
                       for name in ("identify_request", "authorize", "prepare_request",
                                    "request_finished", "handle_exception")}
        self.routes = self._collect_routes()
        self.health_checks = self._collect_health_checks()
        self.tornado = self._build_tornado()

    # -- plugins ------------------------------------------------------------------------------
    def _load_plugins(self, extra: Sequence[tuple[str, type[Plugin]]],
                      eps: Iterable[Any] | None) -> None:
        from .builtin import BUILTIN_PLUGINS

        found = loader.discover(eps)
        for name, cls in extra:
            if name in found:
                raise loader.PluginLoadError(f"plugin name {name!r} is already installed")
            found[name] = loader.PluginInfo(name, None, None, enabled=False, cls=cls)
        loader.decide_enabled(found, self.settings)
        for name, cls in BUILTIN_PLUGINS:
            info = loader.PluginInfo(name, "odh-core", core_version(), True, cls=cls, builtin=True)
            loader.register(self.pm, info, self._make_context, self.settings)
            self.plugins[name] = info
        for name, info in found.items():
            self.plugins[name] = info
            if not info.enabled:
                continue  # a disabled plugin is not even imported: no routes, no hooks
            if info.cls is None:
                loader.import_plugin(info)
            loader.register(self.pm, info, self._make_context, self.settings)
            self.metrics.plugin_info.labels(name, info.version or "").set(1)
        loader.check_pending(self.pm)

    def _make_context(self, info: loader.PluginInfo, config: Any) -> PluginContext:
        return PluginContext(name=info.name, config=config,
                             log=logging.getLogger(f"odh.plugin.{info.name}"),
                             metrics=self.metrics.for_plugin(info.name), app=self,
                             distribution=info.distribution, version=info.version)

    def plugin(self, name: str) -> Plugin | None:
        """An enabled plugin's instance, or None."""
        info = self.plugins.get(name)
        return info.instance if info and info.enabled else None

    def enabled_plugins(self) -> list[loader.PluginInfo]:
        return [i for i in self.plugins.values() if i.enabled and i.instance is not None]

    # -- services plugins publish for each other ----------------------------------------------
    def provide(self, name: str, service: Any) -> None:
        """Publish an object for other plugins (e.g. "s3.access"), instead of imports."""
        if name in self._services:
            raise ValueError(f"service {name!r} is already provided")
        self._services[name] = service

    def service(self, name: str, default: Any = None) -> Any:
        return self._services.get(name, default)

    # -- routes -------------------------------------------------------------------------------
    def _collect_routes(self) -> list[tuple[str, Route]]:
        routes: list[tuple[str, Route]] = []
        seen: dict[tuple[str | None, str], tuple[str, Route]] = {}
        for impl in self.pm.hook.register_routes.get_hookimpls():  # load order
            result = impl.function(app=self) if "app" in impl.argnames else impl.function()
            if inspect.isawaitable(result):
                raise loader.PluginLoadError(
                    f"plugin {impl.plugin_name!r}: register_routes must be synchronous")
            for route in result or []:
                if not isinstance(route, Route):
                    raise loader.PluginLoadError(
                        f"plugin {impl.plugin_name!r}: register_routes returned {route!r}, "
                        "not an odh_core.Route")
                if not (isinstance(route.handler, type) and issubclass(
                        route.handler, (BaseHandler, BaseWebSocketHandler))):
                    raise loader.PluginLoadError(
                        f"plugin {impl.plugin_name!r}: route {route.pattern!r} uses "
                        f"{route.handler!r}, which does not derive from odh_core.BaseHandler or "
                        "odh_core.BaseWebSocketHandler")
                if route.host is not None:
                    route.host = route.host.lower()
                key = (route.host, route.pattern)
                if key in seen:
                    other_name, other = seen[key]
                    if route.fallback:
                        continue  # a frontend without a build yields to the configured one
                    if not other.fallback:
                        raise loader.PluginLoadError(_clash(impl.plugin_name, route, other_name))
                    routes.remove((other_name, other))
                seen[key] = (impl.plugin_name, route)
                routes.append((impl.plugin_name, route))
        routes.sort(key=lambda pr: pr[1].order)  # stable: plugin order within one order value
        for name, info in self.plugins.items():
            info.routes = [r.pattern for p, r in routes if p == name]  # type: ignore[attr-defined]
        return routes

    def _collect_health_checks(self) -> list[tuple[str, HealthCheck]]:
        out = []
        for impl in self.pm.hook.register_health_checks.get_hookimpls():
            result = impl.function(app=self) if "app" in impl.argnames else impl.function()
            out.extend((impl.plugin_name, check) for check in result or [])
        return out

    def _build_tornado(self) -> tornado.web.Application:
        from .builtin.core_routes import NotFoundHandler

        def handlers(host: str | None) -> list[tornado.web.URLSpec]:
            # A host's own routes, then every-host routes it does not shadow, in route order.
            own = {r.pattern for _, r in self.routes if host is not None and r.host == host}
            out = []
            for plugin_name, route in self.routes:
                if route.host != host and (route.host is not None or route.pattern in own):
                    continue
                kwargs = dict(route.kwargs, odh_app=self, odh_plugin=self.plugin(plugin_name)
                              or self.plugins[plugin_name].instance, odh_plugin_name=plugin_name,
                              odh_route=route.pattern,
                              odh_state_changing_get=route.state_changing_get)
                out.append(tornado.web.url(route.pattern, route.handler, kwargs,
                                           name=route.name))
            return out

        app = tornado.web.Application(
            [], default_handler_class=NotFoundHandler,
            default_handler_args={"odh_app": self, "odh_plugin_name": "core"},
            log_function=make_log_function(self.metrics, self.settings.logging.access_log,
                                           self._request_finished),
            websocket_ping_interval=self.settings.server.websocket_ping_interval,
            websocket_ping_timeout=self.settings.server.websocket_ping_timeout,
            cookie_secret=self.cookie_secret, xsrf_cookies=False, compress_response=False,
            autoreload=False, serve_traceback=False)
        # Host rules are tried in the order added, before the catch-all ".*$" added last.
        for host in sorted({r.host for _, r in self.routes if r.host is not None}):
            app.add_handlers(re.escape(host) + "$", handlers(host))
        app.add_handlers(".*$", handlers(None))
        return app

    # -- hooks --------------------------------------------------------------------------------
    async def call_hook(self, name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation (awaiting async ones) in pluggy's order; collect results."""
        impls = self._impls.get(name)
        if impls is None:
            impls = list(reversed(getattr(self.pm.hook, name).get_hookimpls()))
        out = []
        for impl in impls:
            result = impl.function(**{a: kwargs[a] for a in impl.argnames})
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                out.append(result)
        return out

    async def identify(self, handler: Any) -> Identity | None:
        for impl in self._impls["identify_request"]:
            # The hook's one argument is the handler; an implementation may take none.
            result = impl.function(handler) if impl.argnames else impl.function()
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                return result
        return None

    async def authorize(self, identity: Identity, action: str, resource: dict[str, Any]) -> bool:
        args = {"identity": identity, "action": action, "resource": resource}
        allowed = False
        for impl in self._impls["authorize"]:
            result = impl.function(**{a: args[a] for a in impl.argnames})
            if inspect.isawaitable(result):
                result = await result
            if result is False:
                return False
            allowed = allowed or result is True
        return allowed

    def _request_finished(self, handler: Any, duration: float) -> None:
        if not self._impls["request_finished"]:
            return
        args = {"handler": handler, "duration": duration}
        for impl in self._impls["request_finished"]:
            try:
                if impl.argnames == ("handler",):  # the common case, without a dict per call
                    impl.function(handler)
                else:
                    impl.function(**{a: args[a] for a in impl.argnames})
            except Exception:
                self.metrics.hook_errors.labels(impl.plugin_name, "request_finished").inc()
                log.exception("request_finished hook of %s failed", impl.plugin_name)

    def exception_body(self, handler: Any, exc: BaseException) -> dict[str, Any] | None:
        args = {"handler": handler, "exc": exc}
        for impl in self._impls["handle_exception"]:
            try:
                result = impl.function(**{a: args[a] for a in impl.argnames})
            except Exception:
                self.metrics.hook_errors.labels(impl.plugin_name, "handle_exception").inc()
                log.exception("handle_exception hook of %s failed", impl.plugin_name)
                continue
            if result is not None:
                return result
        return None

    # -- clients ------------------------------------------------------------------------------
    @property
    def kube(self) -> KubeClient:
        if self._kube is None:
            raise ApiError(503, "no Kubernetes API server is configured")
        return self._kube

    @property
    def has_kube(self) -> bool:
        return self._kube is not None

    @property
    def cluster_names(self) -> list[str]:
        return ["default", *self._clusters]

    def kube_for(self, cluster: str | None) -> KubeClient:
        """The client of a named cluster ('default' or None: the default one); 404 if unknown."""
        if cluster in (None, "", "default"):
            return self.kube
        client = self._clusters.get(cluster)
        if client is None:
            raise ApiError(404, f"unknown cluster {cluster!r}")
        return client

    @property
    def http(self) -> aiohttp.ClientSession:
        if self.sessions is None:
            raise RuntimeError("the app is not started: no HTTP session yet")
        return self.sessions.http

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self.sessions = Sessions()
        # On the loop's next turn: by then serve_sockets listens (start's plugins await nothing
        # that needs it), so the import does not stand between the process and its first 200.
        asyncio.get_running_loop().call_soon(self.sessions.warm)
        try:
            # Inside the try: a refused connection (plain http) must not leak the sessions.
            conn = self._kube_connection or resolve_connection(self.settings.kubernetes)
            mode = self.settings.sandbox.mode
            if mode == "on" or (mode == "auto" and conn is None):
                from .sandboxing import SandboxManager

                # Fills in only what is missing: the API server here, S3 / the hub on request of
                # the plugins that need them (app.sandbox.ensure_s3()).
                self.sandbox = SandboxManager(self.settings)
                if conn is None:
                    conn = await self.sandbox.start_kube()
                    for name, user in self.sandbox.dev_users().items():
                        self.dev_users.setdefault(name, user)
            if conn is not None:
                self._check_transport(conn)
                self._kube = KubeClient(conn, self.sessions,
                                        self.settings.kubernetes.connect_timeout,
                                        self.settings.kubernetes.request_timeout)
                log.info("Kubernetes API server: %s", conn.description, extra={"host": conn.host})
            else:
                log.warning("no Kubernetes API server configured and sandbox off: cluster routes "
                            "will answer 503")
            for name, cluster in self.settings.kubernetes.clusters.items():
                cfg = self.settings.kubernetes.model_copy(
                    update={**cluster.model_dump(exclude_unset=True), "clusters": {}})
                extra = resolve_connection(cfg, environ={})
                if extra is None:
                    raise loader.PluginLoadError(f"kubernetes.clusters.{name}: no API server "
                                                 "found (set host or kubeconfig)")
                self._check_transport(extra)
                self._clusters[name] = KubeClient(extra, self.sessions,
                                                  cfg.connect_timeout, cfg.request_timeout)
                log.info("cluster %s: %s", name, extra.description)
            for impl in self.pm.hook.startup.get_hookimpls():  # load order
                try:
                    result = impl.function(**{a: self for a in impl.argnames})
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    raise loader.PluginLoadError(f"plugin {impl.plugin_name!r} failed to start: "
                                                 f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            await self.stop()
            raise

    def _check_transport(self, conn: KubeConnection) -> None:
        dev = self.settings.auth.mode == "dev" or conn.sandbox
        if not conn.is_https and not (dev or self.settings.kubernetes.allow_plain_http):
            raise loader.PluginLoadError(
                f"refusing plain-http API server {conn.host}: user tokens would travel in clear "
                "(set kubernetes.allow_plain_http only for local experiments)")

    async def stop(self) -> None:
        timeout = self.settings.server.shutdown_timeout
        for impl in reversed(self.pm.hook.shutdown.get_hookimpls()):
            try:
                result = impl.function(**{a: self for a in impl.argnames})
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, timeout)
            except Exception:
                self.metrics.hook_errors.labels(impl.plugin_name, "shutdown").inc()
                log.exception("shutdown of plugin %s failed", impl.plugin_name)
        for ws in list(self.websockets):
            ws.close(1001, "server shutting down")
        if self.sandbox is not None:
            await self.sandbox.stop()
        if self.sessions is not None:
            await self.sessions.close()
            self.sessions = None
        # aiohttp's documented graceful shutdown: one loop turn lets the transports just
        # closed run their connection_lost before the loop may go away.
        await asyncio.sleep(0)

    def request_done(self) -> None:
        self.inflight -= 1
        if self.draining and self.inflight <= 0 and self._drained is not None:
            self._drained.set()

    async def drain(self, grace: float) -> None:
        """Stop taking work: /readyz turns 503, wait for in-flight requests, close sockets 1001."""
        self.draining = True
        self._drained = asyncio.Event()
        if self.inflight > 0:
            try:
                await asyncio.wait_for(self._drained.wait(), grace)
            except asyncio.TimeoutError:
                log.warning("grace period over with %d requests in flight", self.inflight)
        for ws in list(self.websockets):
            ws.close(1001, "server shutting down")


def _clash(plugin: str, route: Route, other: str) -> str:
    where = f"host {route.host!r}" if route.host else "every host"
    msg = (f"plugin {plugin!r}: route {route.pattern!r} on {where} is already registered by "
           f"plugin {other!r}")
    if route.pattern == r"/(.*)":  # two frontends want the root of the same origin
        msg += (f"; both serve a frontend at the root of {where}: give one its own host name "
                f"(plugins.{plugin}.host or plugins.{other}.host)")
    return msg

