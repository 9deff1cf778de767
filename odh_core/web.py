"""Handler base classes: request id, identity, deny-by-default, JSON errors.

Every route's handler derives from `BaseHandler` or `BaseWebSocketHandler`; the core refuses
anything else, so these rules hold for every plugin's routes:
- a request id (`X-Request-Id` accepted when well-formed, else generated) on every response;
- no identity, no access: a method runs without one only if marked `@allow_anonymous`;
- errors are JSON `{success:false, error, message, statusCode, timestamp, requestId}`, never a
  traceback.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import os
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar
from urllib.parse import urlparse

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
        self._odh_identity = None
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
        limits = self.odh.limits
        exempt = bool(limits.cfg.concurrent_streams and limits.cfg.exempt_admins
                      and await self.is_admin())
        release = limits.acquire_stream(self.identity.username, kind, exempt)
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


class BaseHandler(_OdhMixin, tornado.web.RequestHandler):
    """Base of every HTTP handler. Subclasses implement get/post/...; raise ApiError to fail."""

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
        await self._odh_authenticate()
        await self.odh.call_hook("prepare_request", handler=self)

    def on_finish(self) -> None:
        self._odh_release_streams()
        if getattr(self, "_odh_counted", False):
            self._odh_counted = False
            self.odh.request_done()

    def on_connection_close(self) -> None:
        self.on_finish()

    # -- bodies -------------------------------------------------------------------------------
    def json_body(self) -> Any:
        """The request body as JSON; 400 when it is not."""
        if not self.request.body:
            raise ApiError(400, "a JSON request body is required")
        try:
            return json.loads(self.request.body)
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
            await self._odh_authenticate()
            await self.odh.call_hook("prepare_request", handler=self)
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
        parsed = urlparse(origin)
        allowed = self.odh.settings.server.allowed_origins
        if origin in allowed or "*" in allowed:
            return True
        hosts = {self.request.headers.get("Host", "").lower(),
                 self.request.headers.get("X-Forwarded-Host", "").split(",")[0].strip().lower()}
        return parsed.netloc.lower() in hosts - {""}

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Echo the first protocol that is not the token carrier (never echo the token)."""
        for proto in subprotocols:
            if not proto.startswith("base64url.bearer.authorization.k8s.io."):
                return proto
        return None

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self.odh.websockets.add(self)

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
