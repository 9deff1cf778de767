"""Routes: gated ML service proxies and the Prometheus/Thanos pass-through."""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from odh_core import ApiError, BaseHandler, ResilientProxyHandler, Target

from .gates import check_name

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

    from .plugin import ServicesPlugin


class GatedProxyHandler(ResilientProxyHandler):
    """`/api/service/<key>/...`: streamed both ways to the service behind a gating object the
    caller can read and that is ready; the caller's token goes in `Authorization`."""

    def initialize(self, service: str) -> None:
        self.service_key = service

    async def prepare(self) -> None:
        plugin: ServicesPlugin = self.plugin  # type: ignore[assignment]
        self.max_request_body = plugin.config.max_body_size  # chunked bodies: Tornado cuts off
        await super().prepare()

    async def resolve(self) -> tuple[Target, str]:
        plugin: ServicesPlugin = self.plugin  # type: ignore[assignment]
        limit = plugin.config.max_body_size
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise ApiError(413, f"the request body is larger than the {limit} bytes this "
                           "service proxy accepts")
        spec = plugin.services[self.service_key]
        args = list(self.path_args)
        rest = args.pop() or "/"
        params = dict(zip(spec.path_params, args))
        namespace = check_name("namespace", params["namespace"]) if "namespace" in params else None
        name = check_name("name", params["name"]) if "name" in params else None
        resolved = await plugin.resolver.resolve(
            self.odh.kube if self.odh.has_kube else None, self.token, self.service_key, spec,
            namespace, name)
        self._gate_id = (self.service_key, namespace or "", name or "")
        target = plugin.target(resolved, spec)
        query = self.request.query
        return target, f"{rest}?{query}" if query else rest

    def upstream_error(self, exc: BaseException) -> ApiError:
        self._forget()
        return super().upstream_error(exc)

    async def intercept(self, resp: aiohttp.ClientResponse) -> bool:
        if resp.status in (502, 503, 504):
            self._forget()  # maybe a stale address: resolve again next time
        return False

    def _forget(self) -> None:
        gate = getattr(self, "_gate_id", None)
        if gate is not None:
            self.plugin.resolver.forget(*gate)  # type: ignore[union-attr]


class PrometheusHandler(BaseHandler):
    """POST `{query}` (a url-encoded query string) -> Thanos `/api/v1/<api>?<query>` as the
    user; answers `{code, response}`. HTML (a login page) -> 422, Prometheus `status: error`
    -> 400 with its message, upstream unreachable -> 502."""

    def initialize(self, port: str, api: str) -> None:
        self.port = port
        self.api = api

    async def post(self) -> None:
        import aiohttp

        body = self.json_body()
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or not query.strip():
            raise _prom_error(400, "Failed to provide a query")
        if any(c in query for c in "#\r\n "):
            raise _prom_error(400, "the query must be a url-encoded query string")
        plugin: ServicesPlugin = self.plugin  # type: ignore[assignment]
        target = plugin.prometheus[self.port]
        try:
            status, headers, raw = await target.fetch(
                self.odh.http, "GET", f"/api/v1/{self.api}", query=query,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"})
        except ApiError as exc:  # breaker open
            raise _prom_error(502, exc.message) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise _prom_error(502, f"Prometheus is unreachable ({type(exc).__name__})") from None
        ctype = headers.get("Content-Type", "")
        if "html" in ctype or raw.lstrip()[:1] == b"<":
            raise _prom_error(422, "Unprocessable prometheus response")
        try:
            parsed = json.loads(raw)
        except ValueError:
            if status in (401, 403):
                raise _prom_error(status, raw[:200].decode("utf-8", "replace").strip()
                                  or "not allowed") from None
            raise _prom_error(502, f"Prometheus answered {status} with a body that is not "
                              "JSON") from None
        if isinstance(parsed, dict) and parsed.get("status") == "error":
            raise _prom_error(400, str(parsed.get("error") or "Prometheus query failed"))
        if status >= 400:
            raise _prom_error(status if status < 500 else 502, f"Prometheus answered {status}")
        self.write_json({"code": 200, "response": parsed})


def _prom_error(status: int, message: str) -> ApiError:
    # `{code, response}` as the old backend sent, plus the `{error, message}` the UI reads.
    return ApiError(status, message, extra={"code": status, "response": message})

