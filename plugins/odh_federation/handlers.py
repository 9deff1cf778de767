"""Federation routes: module assets (`/_mf/<name>/*`), proxyService paths, WebSockets through
both, and the module list for the dashboard shell."""
from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import tornado.web
import tornado.websocket

from odh_core import (ApiError, BaseHandler, BaseWebSocketHandler, ResilientProxyHandler, Target,
                      check_proxy_path, utc_now)

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

    from .plugin import FederationPlugin

WS_MAX_MESSAGE = 16 * 2**20


def _is_upgrade(request: Any) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


class _DispatchUpgrades:
    """Tornado routes by path only, and a module's WebSocket lives on the same path as its HTTP
    routes: a request carrying `Upgrade: websocket` is served by the route's `ws_handler`
    instead (an object that is not an instance of the route class skips its `__init__`)."""

    ws_handler: type

    def __new__(cls, application: Any, request: Any, **kwargs: Any) -> Any:
        if _is_upgrade(request) and request.method == "GET":
            return cls.ws_handler(application, request, **kwargs)
        return super().__new__(cls)


# -- resolution shared by HTTP and WebSocket --------------------------------------------------
def resolve_asset(handler: Any) -> tuple[Target, str]:
    plugin: FederationPlugin = handler.plugin
    name, rest = handler.path_args[0], handler.path_args[1] or "/"
    return plugin.table.asset_target(name), rest


def resolve_service(handler: Any) -> tuple[Target, str]:
    plugin: FederationPlugin = handler.plugin
    _, target, path = plugin.table.match(handler.request.path)
    return target, path


def with_query(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


class AssetHandler(_DispatchUpgrades, ResilientProxyHandler):
    """A module's static assets (remoteEntry and chunks) from its asset server, prefix
    stripped; `Cache-Control: no-cache` unless the server says otherwise; 503 when down."""

    async def resolve(self) -> tuple[Target, str]:
        target, path = resolve_asset(self)
        return target, with_query(path, self.request.query)

    def upstream_error(self, exc: BaseException) -> ApiError:
        return ApiError(503, f"module {self.path_args[0]!r} is unavailable: its asset server "
                        f"did not answer ({type(exc).__name__})")

    async def intercept(self, resp: aiohttp.ClientResponse) -> bool:
        if "Cache-Control" not in resp.headers:
            self.set_header("Cache-Control", "no-cache")
        return False


class ServiceHandler(_DispatchUpgrades, ResilientProxyHandler):
    """A module's `proxyService` paths: the path prefix replaced by `pathRewrite`."""

    async def resolve(self) -> tuple[Target, str]:
        target, path = resolve_service(self)
        return target, with_query(path, self.request.query)


class ModulesHandler(BaseHandler):
    """Federated modules `[{name, remoteEntry, healthy, breakers}]` for the dashboard shell."""

    async def get(self) -> None:
        plugin: FederationPlugin = self.plugin  # type: ignore[assignment]
        self.ok(plugin.table.health(plugin.probes))


# -- WebSocket pass-through ---------------------------------------------------------------------
@tornado.web.stream_request_body
class WebSocketProxy(BaseWebSocketHandler):
    """Connects upstream (aiohttp) before accepting the client, then pumps frames both ways;
    each direction awaits the other side's write (backpressure).

    Marked `stream_request_body` like the HTTP route class it stands in for: Tornado then
    waits for the (empty) request body before the upgrade, instead of closing the connection
    because the handler finished before the request was fully read.
    """

    def resolve(self) -> tuple[Target, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def prepare(self) -> None:
        self._upstream: aiohttp.ClientWebSocketResponse | None = None
        self._pump: asyncio.Future[None] | None = None
        await super().prepare()  # Origin and identity, before any upstream socket
        try:
            check_proxy_path(self.request.path)
            target, path = self.resolve()
            if not target.breaker.allow():
                raise target.circuit_open()
            await self._connect(target, with_query(path, self.request.query))
        except ApiError as exc:
            self._reject(exc)

    def _reject(self, exc: ApiError) -> None:
        self.set_status(exc.status)
        for name, value in exc.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"success": False, "error": exc.error, "message": exc.message,
                                "statusCode": exc.status, "timestamp": utc_now(),
                                "requestId": self.request_id}))
        raise tornado.web.Finish()

    def upstream_headers(self, target: Target) -> dict[str, str]:
        policy = target.policy
        req = self.request
        headers = {"X-Forwarded-For": req.remote_ip or "",  # what odh-core saw
                   "X-Forwarded-Proto": req.headers.get("X-Forwarded-Proto") or req.protocol,
                   "X-Forwarded-Host": req.headers.get("X-Forwarded-Host") or req.host,
                   "X-Request-Id": self.request_id}
        if policy.forward_cookies and req.headers.get("Cookie"):
            headers["Cookie"] = req.headers["Cookie"]
        if policy.forward_token_header and req.headers.get("X-Forwarded-Access-Token"):
            headers["X-Forwarded-Access-Token"] = req.headers["X-Forwarded-Access-Token"]
        headers.update(policy.headers)
        if policy.authorize:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def _connect(self, target: Target, path: str) -> None:
        import aiohttp

        offered = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "")
                   .split(",") if p.strip()
                   and not p.strip().startswith("base64url.bearer.authorization.k8s.io.")]
        started = time.perf_counter()
        try:
            connect = self.odh.http.ws_connect(
                target.url(path), headers=self.upstream_headers(target), protocols=offered,
                ssl=target.ssl, max_msg_size=WS_MAX_MESSAGE, autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
            self._upstream = await asyncio.wait_for(
                connect, target.settings.connect_timeout + target.settings.read_timeout)
        except aiohttp.WSServerHandshakeError as exc:
            target.answered(exc.status, time.perf_counter() - started)
            raise ApiError(502 if exc.status < 400 else exc.status,
                           f"the upstream refused the WebSocket ({exc.status})") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            target.failed(exc)
            raise ApiError(502, f"the upstream service is unreachable ({type(exc).__name__})") \
                from None
        except BaseException:
            target.breaker.release()
            raise
        target.answered(101, time.perf_counter() - started)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        chosen = self._upstream.protocol if self._upstream is not None else None
        return chosen if chosen in subprotocols else None

    async def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self._pump = asyncio.ensure_future(self._from_upstream())

    async def _from_upstream(self) -> None:
        import aiohttp

        ws = self._upstream
        assert ws is not None
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self.write_message(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await self.write_message(msg.data, binary=True)
                else:
                    break
        except (tornado.websocket.WebSocketClosedError, aiohttp.ClientError,
                asyncio.TimeoutError):
            pass
        finally:
            if self.ws_connection is not None:
                self.close(ws.close_code or 1000, "upstream closed")

    async def on_message(self, message: str | bytes) -> None:
        import aiohttp

        ws = self._upstream
        if ws is None or ws.closed:
            return
        try:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_str(message)
        except (aiohttp.ClientError, ConnectionError):
            self.close(1011, "upstream gone")

    def on_close(self) -> None:
        super().on_close()
        self._end_upstream()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._end_upstream()

    def on_finish(self) -> None:
        # Also called when the 101 answer goes out; only a refused upgrade ends here without a
        # WebSocket, and then the upstream connection must go.
        super().on_finish()
        if self.ws_connection is None:
            self._end_upstream()

    def _end_upstream(self) -> None:
        ws, self._upstream = getattr(self, "_upstream", None), None
        if ws is not None and not ws.closed:
            asyncio.ensure_future(ws.close())
        pump = getattr(self, "_pump", None)
        if pump is not None and not pump.done() and ws is None:
            pump.cancel()


class AssetWebSocket(WebSocketProxy):
    def resolve(self) -> tuple[Target, str]:
        return resolve_asset(self)


class ServiceWebSocket(WebSocketProxy):
    def resolve(self) -> tuple[Target, str]:
        return resolve_service(self)


AssetHandler.ws_handler = AssetWebSocket
ServiceHandler.ws_handler = ServiceWebSocket
