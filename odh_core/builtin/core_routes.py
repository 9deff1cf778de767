"""Routes every odh-core serves: health, readiness, metrics, the plugin list, JSON 404."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..errors import ApiError
from ..hookspecs import hookimpl
from ..plugin import HealthCheck, Plugin, Route
from ..web import BaseHandler, allow_anonymous, requires
from .openapi_routes import OpenApiHandler, OpenApiPageHandler, OpenApiScriptHandler


@allow_anonymous
class HealthHandler(BaseHandler):
    """Liveness in the old dashboard's shape: `{"health": "ok"}`; 503 while draining."""

    def get(self) -> None:
        if self.odh.draining:
            self.write_json({"health": "draining"}, 503)
        else:
            self.write_json({"health": "ok"})


@allow_anonymous
class LiveHandler(BaseHandler):
    """Liveness probe: the process serves requests."""

    def get(self) -> None:
        self.write_json({"status": "ok"})


@allow_anonymous
class ReadyHandler(BaseHandler):
    """Readiness probe: every plugin's health checks, each with its own timeout."""

    async def get(self) -> None:
        if self.odh.draining:
            self.write_json({"status": "draining", "checks": []}, 503)
            return
        results = await asyncio.gather(*(run_check(p, c) for p, c in self.odh.health_checks))
        failed = [r for r in results if not r["ok"] and r["critical"]]
        degraded = [r for r in results if not r["ok"] and not r["critical"]]
        status = "fail" if failed else "degraded" if degraded else "ok"
        body: dict[str, Any] = {"status": status, "checks": results}
        if failed:
            body["message"] = "failing: " + ", ".join(f"{r['plugin']}/{r['name']}" for r in failed)
        self.write_json(body, 503 if failed else 200)


async def run_check(plugin: str, check: HealthCheck) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"plugin": plugin, "name": check.name, "critical": check.critical}
    try:
        await asyncio.wait_for(check.check(), check.timeout)
        result["ok"] = True
    except asyncio.TimeoutError:
        result.update(ok=False, error=f"timed out after {check.timeout}s")
    except Exception as exc:  # a check's failure is data here, not an error of /readyz
        result.update(ok=False, error=getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


@allow_anonymous
class MetricsHandler(BaseHandler):
    """Prometheus text format from the app's own registry."""

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.odh.metrics.registry))


class PluginsHandler(BaseHandler):
    """Installed plugins: name, distribution, version, enabled, hooks, routes (admin)."""

    @requires("admin")
    async def get(self) -> None:
        self.ok([{
            "name": info.name, "distribution": info.distribution, "version": info.version,
            "enabled": info.enabled, "builtin": info.builtin, "hooks": info.hooks,
            "routes": getattr(info, "routes", []),
            "importMs": round(info.import_seconds * 1000, 1),
        } for info in self.odh.plugins.values()])


class ClustersHandler(BaseHandler):
    """The clusters odh-core knows and whether the caller's token is valid on each."""

    async def get(self) -> None:
        auth = self.odh.plugin("core-auth")
        token = self.request_token() or self.identity.token

        async def probe(name: str) -> dict[str, Any]:
            row: dict[str, Any] = {"name": name, "default": name == "default"}
            if not token:
                return {**row, "reachable": False}
            try:
                ident = await auth.validate(token, name)
            except ApiError as exc:
                return {**row, "reachable": False, "reason": exc.message}
            return {**row, "reachable": True, "user": ident.username}

        rows = await asyncio.gather(*(probe(n) for n in self.odh.cluster_names))
        self.ok([r for r in rows if r["reachable"]] if self.get_argument("all", "") != "true"
                else rows)


@allow_anonymous
class NotFoundHandler(BaseHandler):
    """Unknown paths: a JSON 404 for any method."""

    def prepare(self) -> None:  # type: ignore[override]
        raise ApiError(404, f"no route for {self.request.method} {self.request.path}")


class CorePlugin(Plugin):
    @hookimpl
    def register_routes(self) -> list[Route]:
        return [
            Route(r"/api/health", HealthHandler, description="Liveness, old dashboard shape."),
            Route(r"/healthz", LiveHandler, description="Liveness probe."),
            Route(r"/readyz", ReadyHandler, description="Readiness: every plugin's checks."),
            Route(r"/metrics", MetricsHandler, description="Prometheus metrics."),
            Route(r"/api/plugins", PluginsHandler, envelope=True,
                  description="Installed plugins (admin)."),
            Route(r"/api/clusters", ClustersHandler, envelope=True,
                  description="Clusters the caller can reach (multi-cluster); ?all=true lists "
                              "unreachable ones too."),
            Route(r"/api/openapi\.json", OpenApiHandler, responses={200: {
                "type": "object", "required": ["openapi", "paths"]}},
                  description="This server's OpenAPI 3.1 document."),
            Route(r"/api/openapi", OpenApiPageHandler,
                  description="A page rendering the OpenAPI document for people."),
            Route(r"/api/openapi\.js", OpenApiScriptHandler,
                  description="The API page's script."),
        ]

    @hookimpl
    def register_health_checks(self, app: Any) -> list[HealthCheck]:
        async def api_server() -> None:
            from ..kube import SERVICE_ACCOUNT

            if not app.has_kube:
                return  # no cluster configured (warned at start): nothing to wait for
            resp = await app.kube.request("GET", "/version", token=SERVICE_ACCOUNT, timeout=2)
            if resp.status >= 500:
                raise ApiError(502, f"API server answered {resp.status}")

        return [HealthCheck("kubernetes-api", api_server, timeout=2.5)]
