"""Handler base classes: request id, identity, deny-by-default, JSON errors.

Every route's handler derives from `BaseHandler` or `BaseWebSocketHandler`; the core refuses
anything else, so these rules hold for every plugin's routes:
- a request id (`X-Request-Id` accepted when well-formed, else generated) on every response;
- no identity, no access: a method runs without one only if marked `@allow_anonymous`;
- errors are JSON `{success:false, error, message, statusCode, timestamp, requestId}`, never a
  traceback;
- identity is settled in the header phase, before a byte of the body is read (every handler
  streams its body: buffering handlers collect it only once the caller is known), and bodies
  have an idle and a total timeout;
- a browser request from another site cannot change state: unsafe methods, and GETs of
  routes declared `Route(state_changing_get=True)`, are refused when `Origin` (or
  `Sec-Fetch-Site: cross-site`) names a site other than this server or an allowed origin.
"""
from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import os
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar
from urllib.parse import urlparse

import tornado.ioloop
import tornado.web
import tornado.websocket

from .auth import Identity, token_from_headers, token_from_subprotocols
from .errors import ApiError, reason_phrase
from .jsonwire import dumpb
from .observability import request_id_var
from .timefmt import UtcStamp

if TYPE_CHECKING:  # pragma: no cover
    from .app import App
    from .plugin import Plugin

log = logging.getLogger("odh.web")
F = TypeVar("F", bound=Callable[..., Any])
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
RESERVED_CLOSE_CODES = {1004, 1005, 1006}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def allowed_methods(handler: type) -> list[str]:
    """The HTTP methods a handler class serves: implemented (not Tornado's 405 defaults) and
    in its SUPPORTED_METHODS. Feeds the `Allow` header of 405s and the OpenAPI document."""
    if issubclass(handler, tornado.websocket.WebSocketHandler):
        return ["GET"]
    supported = {m.upper() for m in handler.SUPPORTED_METHODS}
    return [m.upper() for m in HTTP_METHODS if m.upper() in supported
            and getattr(handler, m, None) is not getattr(tornado.web.RequestHandler, m)]


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or any `+json` type (merge-patch, json-patch), parameters ignored."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                            and media.endswith("+json"))


def origin_allowed(handler: Any, origin: str) -> bool:
    """`origin` is this server (its Host, or the auth proxy's X-Forwarded-Host) or an origin
    the operator allowed (server.allowed_origins, server.cors.allowed_origins)."""
    server = handler.odh.settings.server
    if origin in server.allowed_origins or "*" in server.allowed_origins or (
            origin != "*" and origin in server.cors.allowed_origins):
        return True
    netloc = urlparse(origin).netloc.lower() if origin != "null" else ""
    headers = handler.request.headers
    hosts = {headers.get("Host", "").lower(),
             headers.get("X-Forwarded-Host", "").split(",")[0].strip().lower()}
    return bool(netloc) and netloc in hosts


def cross_site_problem(handler: Any) -> str | None:
    """Why this request looks like a browser's cross-site request, or None."""
    headers = handler.request.headers
    origin = headers.get("Origin")
    if origin is not None:
        return None if origin_allowed(handler, origin) else (
            f"cross-site request refused: origin {origin[:200]!r} is not this server or an "
            "allowed origin")
    # No Origin (a browser's GET): Sec-Fetch-Site says where it came from. "same-site" is
    # refused too: on a shared apps domain every other route of the cluster is same-site.
    site = headers.get("Sec-Fetch-Site", "").lower()
    if site in ("cross-site", "same-site"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    return None


def allow_anonymous(target: F) -> F:
    """Let a handler method (or every method of a handler class) run without an identity."""
    target.__odh_anonymous__ = True  # type: ignore[attr-defined]
    return target


def requires(action: str, **resource: Any) -> Callable[[F], F]:
    """Check `authorize(identity, action, resource)` before the method runs (403 if denied).

    Resource values may be callables taking the handler (e.g. to read a path argument).
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        async def wrapper(self: "BaseHandler", *args: Any, **kwargs: Any) -> Any:
            res = {k: (v(self) if callable(v) else v) for k, v in resource.items()}
            await self.require(action, **res)
            result = method(self, *args, **kwargs)
            if hasattr(result, "__await__"):
                result = await result
            return result

        wrapper.__odh_requires__ = (action, resource)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


_stamp = UtcStamp()  # a pure function of the clock, memoised per second: no app state


def utc_now() -> str:
    """Now, as the `timestamp` of response envelopes: `2026-11-22T22:05:00.123Z`."""
    return _stamp(time.time())


def is_anonymous(handler: Any, method: str) -> bool:
    """Whether `method` of a handler (instance or class) runs without identity."""
    cls = handler if isinstance(handler, type) else type(handler)
    if getattr(cls, "__odh_anonymous__", False):
        return True
    fn = getattr(cls, method.lower(), None)
    return bool(getattr(fn, "__odh_anonymous__", False))


class _OdhMixin:
    """What HTTP and WebSocket handlers share; attributes set before `initialize` runs."""

    odh: "App"
    plugin: "Plugin | None"
    plugin_name: str
    request_id: str
    _odh_identity: Identity | None
    request: Any

    def __init__(self, application: Any, request: Any, **kwargs: Any):
        self.request = request
        self._odh_init(kwargs)
        super().__init__(application, request, **kwargs)  # type: ignore[call-arg]

    def set_default_headers(self) -> None:
        # request_id matched _REQUEST_ID or is hex: no need for set_header's value checks.
        headers = self._headers  # type: ignore[attr-defined]
        headers["X-Request-Id"] = getattr(self, "request_id", "")

    def _odh_init(self, kwargs: dict[str, Any]) -> None:
        self.odh = kwargs.pop("odh_app")
        self.plugin = kwargs.pop("odh_plugin", None)
        self.plugin_name = kwargs.pop("odh_plugin_name", "core")
        self.route_pattern = kwargs.pop("odh_route", "")
        self.state_changing_get = kwargs.pop("odh_state_changing_get", False)
        self._odh_identity = None
        self._odh_chunks: list[bytes] = []
        incoming = self.request.headers.get("X-Request-Id", "")
        self.request_id = incoming if incoming and _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        request_id_var.set(self.request_id)

    @property
    def cluster(self) -> str:
        """The cluster this request addresses: the route's `cluster` path argument, else
        'default'. Identity and access reviews are per cluster."""
        return (getattr(self, "path_kwargs", None) or {}).get("cluster") or "default"

    @property
    def kube(self) -> Any:
        """The Kubernetes client of the cluster this request addresses."""
        return self.odh.kube_for(self.cluster)

    @property
    def identity(self) -> Identity:
        """The caller; raises 401 when there is none (only possible on anonymous routes)."""
        if self._odh_identity is None:
            raise ApiError(401, "authentication required")
        return self._odh_identity

    @property
    def maybe_identity(self) -> Identity | None:
        return self._odh_identity

    @property
    def token(self) -> str:
        """The caller's token, to act on the cluster on their behalf."""
        token = self.identity.token
        if not token:
            raise ApiError(401, "this request carries no token to act on the cluster with")
        return token

    def request_token(self) -> str | None:
        """The raw token the request carries (before any validation)."""
        return token_from_headers(self.request.headers, self.odh.settings.auth.token_headers)

    def get_current_user(self) -> Identity | None:
        return self._odh_identity

    async def require(self, action: str, **resource: Any) -> None:
        if not await self.odh.authorize(self.identity, action, resource):
            raise ApiError(403, f"forbidden: {action} requires permission you do not have"
                           if action != "admin" else "forbidden: administrators only")
        if action == "admin":
            self.odh_admin_route = True  # the audit trail records admin reads too

    async def acquire_stream(self, kind: str, *, detached: bool = False) -> Callable[[], None]:
        """Count a long-lived stream (upload, download, watch, import) against the caller's
        concurrent-stream limit (429 when over). It is released when the request or socket
        ends; with `detached=True` (work that outlives the request, like an import job) the
        caller calls the returned release function itself."""
        held = getattr(self, "_odh_releases", [])
        if held and not detached:
            return held[0]  # one request or socket is one stream, however often it asks
        limits = self.odh.limits
        user = self.identity.username
        # Whether an admin is exempt matters only at the limit: no review below it.
        exempt = bool(limits.cfg.exempt_admins and limits.at_stream_limit(user)
                      and await self.is_admin())
        release = limits.acquire_stream(user, kind, exempt)
        if not detached:
            self._odh_releases = [*getattr(self, "_odh_releases", []), release]
        return release

    def _odh_release_streams(self) -> None:
        for release in getattr(self, "_odh_releases", []):
            release()
        self._odh_releases = []

    async def is_admin(self) -> bool:
        ident = self._odh_identity
        return bool(ident) and await self.odh.authorize(ident, "admin", {})

    async def _odh_authenticate(self) -> None:
        if is_anonymous(self, self.request.method):  # type: ignore[arg-type]
            try:  # who it is still helps the log, but a stale token must not fail a probe
                self._odh_identity = await self.odh.identify(self)
            except ApiError:
                self._odh_identity = None
            return
        self._odh_identity = await self.odh.identify(self)
        if self._odh_identity is None:
            raise ApiError(401, "authentication required: send a bearer token",
                           headers={"WWW-Authenticate": 'Bearer realm="odh-core"'})


@tornado.web.stream_request_body  # identity first: the body is read after prepare()
class BaseHandler(_OdhMixin, tornado.web.RequestHandler):
    """Base of every HTTP handler. Subclasses implement get/post/...; raise ApiError to fail.

    The body is streamed: `prepare` (identity, CSRF, hooks) runs when the headers are in,
    and only then is the body read. A handler that does not define `data_received` gets it
    collected in `self.request.body` (and form arguments parsed) before its method runs, as
    Tornado would; one that does receives the chunks itself.
    """

    _odh_buffers_body = True  # False for subclasses that take the chunks themselves

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("data_received")
        if own is None or getattr(own, "__odh_idle_watch__", False):
            return
        cls._odh_buffers_body = False

        @functools.wraps(own)
        def data_received(self: "BaseHandler", chunk: bytes) -> Any:
            self._odh_body_at = time.monotonic()  # the idle timeout watches every route
            result = own(self, chunk)
            if not inspect.isawaitable(result):
                return result
            return self._odh_backpressure(result)

        data_received.__odh_idle_watch__ = True  # type: ignore[attr-defined]
        cls.data_received = data_received  # type: ignore[method-assign]

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.odh.http_policy.apply(self)

    async def prepare(self) -> None:
        self.odh.inflight += 1
        self._odh_counted = True
        policy = self.odh.http_policy
        if policy.origins and policy.is_preflight(self):  # answered without identity
            status, problem = policy.preflight(self)
            if problem:
                raise ApiError(status, problem)
            self.set_status(204)
            raise tornado.web.Finish()  # stops subclasses' prepare too
        method = self.request.method
        if method in UNSAFE_METHODS or (self.state_changing_get and method in ("GET", "HEAD")):
            problem = cross_site_problem(self)
            if problem:
                raise ApiError(403, problem)
        await self._odh_authenticate()
        await self.odh.call_hook("prepare_request", handler=self)
        self._odh_expect_body()

    # -- bodies -------------------------------------------------------------------------------
    def _odh_expect_body(self) -> None:
        """Once the caller is known: body timeouts, and collection for buffering handlers."""
        server = self.odh.settings.server
        future = getattr(self.request, "_body_future", None)
        if future is None or future.done():  # pragma: no cover - not routed by Tornado
            return
        # Registered before Tornado awaits the same future after prepare(): runs first.
        future.add_done_callback(self._odh_body_done)
        headers = self.request.headers
        if headers.get("Content-Length", "0") in ("", "0") and "chunked" not in headers.get(
                "Transfer-Encoding", "").lower():
            return
        if self._odh_buffers_body and server.body_timeout:
            self.request.connection.set_body_timeout(server.body_timeout)
        if server.body_idle_timeout:
            self._odh_body_at = time.monotonic()
            self._odh_idle = tornado.ioloop.IOLoop.current().call_later(
                server.body_idle_timeout, self._odh_check_idle)

    async def _odh_backpressure(self, pending: Awaitable[Any]) -> Any:
        """While a streaming handler waits for its consumer (an upstream that is slow to
        take the body), the client is not idle: we are not reading."""
        self._odh_body_busy = True
        try:
            return await pending
        finally:
            self._odh_body_busy = False
            self._odh_body_at = time.monotonic()

    def _odh_check_idle(self) -> None:
        idle = self.odh.settings.server.body_idle_timeout
        quiet = time.monotonic() - getattr(self, "_odh_body_at", 0.0)
        if getattr(self, "_odh_body_busy", False):
            quiet = 0.0
        if quiet < idle:
            self._odh_idle = tornado.ioloop.IOLoop.current().call_later(
                idle - quiet, self._odh_check_idle)
            return
        self._odh_idle = None
        log.info("%s %s: no body data for %.0fs, closing the connection",
                 self.request.method, self.request.path, quiet)
        self.request.connection.close()

    def _odh_stop_idle(self) -> None:
        timer, self._odh_idle = getattr(self, "_odh_idle", None), None
        if timer is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(timer)

    def _odh_body_done(self, future: Any) -> None:
        self._odh_stop_idle()
        if future.cancelled() or future.exception() is not None or not self._odh_buffers_body:
            return
        self.request.body = b"".join(self._odh_chunks)
        self._odh_chunks = []
        # What Tornado does for a buffered request: form arguments into `arguments`.
        self.request._parse_body()

    def data_received(self, chunk: bytes) -> None:
        """Collect the body (bounded by server.max_body_size, which the connection enforces)."""
        self._odh_body_at = time.monotonic()
        if not self._finished:
            self._odh_chunks.append(chunk)

    def on_finish(self) -> None:
        self._odh_stop_idle()
        self._odh_release_streams()
        if getattr(self, "_odh_counted", False):
            self._odh_counted = False
            self.odh.request_done()

    def on_connection_close(self) -> None:
        self.on_finish()

    def json_body(self) -> Any:
        """The request body as JSON; 415 without a JSON content type (a cross-site form or
        `text/plain` request cannot pass as JSON), 400 when it is not JSON."""
        if not self.request.body:
            raise ApiError(400, "a JSON request body is required")
        if not is_json_media_type(self.request.headers.get("Content-Type")):
            raise ApiError(415, "send the JSON body with Content-Type: application/json")
        try:
            return json.loads(self.request.body)
        except RecursionError:
            raise ApiError(400, "the request body is nested too deeply") from None
        except ValueError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from None

    def write_json(self, data: Any, status: int | None = None) -> None:
        if status is not None:
            self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(dumpb(data))

    def ok(self, data: Any, status: int = 200) -> None:
        """The envelope of routes new in odh-core: `{success:true, data, timestamp}`."""
        self.write_json({"success": True, "data": data, "timestamp": utc_now()}, status)

    # -- errors -------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, error: str | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"success": False, "error": error or reason_phrase(status), "message": message,
                "statusCode": status, "timestamp": utc_now(), "requestId": self.request_id}
        if extra:
            body.update({k: v for k, v in extra.items() if v is not None})
        return body

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.set_status(exc.status, exc.error if exc.status not in _KNOWN else None)
            for name, value in exc.headers.items():
                self.set_header(name, value)
            body = self.error_body(exc.status, exc.message, exc.error, exc.extra)
        elif isinstance(exc, tornado.web.HTTPError):
            if status_code == 405:
                self.set_header("Allow", ", ".join(allowed_methods(type(self))))
            message = exc.log_message % exc.args if exc.log_message and exc.args else (
                exc.log_message or exc.reason or reason_phrase(status_code))
            body = self.error_body(status_code, message)
        elif exc is not None:
            body = self.odh.exception_body(self, exc) or self.error_body(
                500, "internal error; quote the request id when reporting it")
            status_code = self.get_status()
        else:
            body = self.error_body(status_code, self._reason)
        if self._finished:  # pragma: no cover - tornado guards this already
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(dumpb(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ApiError):
            if value.status >= 500:
                log.warning("%s %s -> %d: %s", self.request.method, self.request.path,
                            value.status, value.message)
            return
        if isinstance(value, tornado.web.HTTPError):
            return
        log.error("uncaught exception in %s %s", self.request.method, self.request.path,
                  exc_info=(typ, value, tb))


_KNOWN = {s for s in range(100, 600) if reason_phrase(s) != "Error"}


class BaseWebSocketHandler(_OdhMixin, tornado.websocket.WebSocketHandler):
    """Base of every WebSocket handler: identity before the upgrade, Origin checked, the token
    accepted from the k8s bearer subprotocol, reserved close codes mapped to 1011."""

    def request_token(self) -> str | None:
        return token_from_headers(self.request.headers, self.odh.settings.auth.token_headers) \
            or token_from_subprotocols(self.request.headers.get("Sec-WebSocket-Protocol"))

    async def prepare(self) -> None:
        try:
            # Origin before anything else: a foreign page must not make odh-core open an
            # upstream socket or spend a review (Tornado itself checks only after prepare).
            origin = self.request.headers.get("Origin") or self.request.headers.get(
                "Sec-Websocket-Origin")
            if origin and not self.check_origin(origin):
                raise ApiError(403, "cross-origin WebSocket refused")
            await self._odh_authenticate()
            await self.odh.call_hook("prepare_request", handler=self)
            await self.acquire_stream("websocket")  # every socket counts against the limit
        except ApiError as exc:
            self._odh_reject(exc)
            raise tornado.web.Finish() from None

    def _odh_reject(self, exc: ApiError) -> None:
        self.set_status(exc.status)
        for name, value in exc.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.write(dumpb({"success": False, "error": exc.error, "message": exc.message,
                          "statusCode": exc.status, "timestamp": utc_now(),
                          "requestId": self.request_id}))

    def check_origin(self, origin: str) -> bool:
        """Same origin (host, or the auth proxy's X-Forwarded-Host), or an allowed origin."""
        return origin_allowed(self, origin)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Echo the first protocol that is not the token carrier (never echo the token)."""
        for proto in subprotocols:
            if not proto.startswith("base64url.bearer.authorization.k8s.io."):
                return proto
        return None

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self.odh.websockets.add(self)

    def on_finish(self) -> None:
        # Tornado calls this when the 101 goes out too; without a socket (a refused or
        # failed upgrade) nothing will close later, so the stream count ends here.
        if self.ws_connection is None:
            self._odh_release_streams()

    def on_close(self) -> None:
        self.odh.websockets.discard(self)
        self._odh_release_streams()

    def on_connection_close(self) -> None:
        self.odh.websockets.discard(self)
        self._odh_release_streams()
        super().on_connection_close()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if code in RESERVED_CLOSE_CODES:
            code = 1011  # these may not be sent on the wire; browsers re-list on 1011
        self.odh.websockets.discard(self)
        super().close(code, reason)
