"""One streaming reverse proxy for every plugin that forwards requests (k8s pass-through,
package BFFs, ML service proxies): bodies stream both ways with backpressure and bounded memory,
nothing is parsed or re-serialised, upstream status and headers come back as they were.

A plugin subclasses `ProxyHandler` and says where a request goes (`upstream()`), which request
headers to drop (`strip_request_headers`) and, if it wants, how to map upstream failures
(`upstream_error`) or rewrite a response before it is relayed (`intercept`).
"""
from __future__ import annotations

import asyncio
import logging
import re
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable
from urllib.parse import unquote

import tornado.web
from tornado.iostream import StreamClosedError

from .errors import ApiError
from .web import BaseHandler

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

log = logging.getLogger("odh.proxy")

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length", "expect",
})
# Headers that carry who the caller is or where they come from: a client could write them
# to pose as someone else upstream (or, behind an auth proxy, as the proxy's verdict).
# Never forwarded; X-Forwarded-For is set from the address odh-core saw.
IDENTITY_HEADERS = frozenset({
    "x-forwarded-for", "x-real-ip", "forwarded", "x-remote-user", "x-remote-group",
    "x-remote-uid", "x-forwarded-user", "x-forwarded-groups", "x-forwarded-email",
    "x-forwarded-preferred-username", "x-auth-request-user", "x-auth-request-email",
    "x-auth-request-groups", "x-auth-request-preferred-username",
    "x-auth-request-access-token", "x-client-cert", "ssl-client-cert",
})
IDENTITY_HEADER_PREFIXES = ("impersonate-", "x-remote-extra-")
# Status of a request whose client left before the answer (nginx's convention): quiet, and
# counted apart from server errors.
CLIENT_CLOSED = 499
_EOF = object()
_DOT_SEGMENT = re.compile(r"(^|/)\.{1,2}(/|$)")


def check_proxy_path(raw_path: str) -> None:
    """Refuse a path a proxy must not forward: dot segments, raw or percent-encoded (however
    often encoded), encoded `?` or `#`, NUL or backslashes. The upstream URL library would
    normalise `%2e%2e` into a step up (out of a rewrite prefix), and a decoded `%3F` would
    start a query. Checked on the raw path before matching and joining, for every proxy."""
    decoded, seen = raw_path, 0
    while True:
        if _DOT_SEGMENT.search(decoded) or any(c in decoded for c in "\\\x00"):
            raise ApiError(400, "the path may not contain '.' or '..' segments or backslashes")
        if any(c in decoded for c in "?#"):
            raise ApiError(400, "the path may not contain an encoded '?' or '#'")
        step = unquote(decoded)
        if step == decoded or seen > 4:
            return
        decoded, seen = step, seen + 1

BODY_QUEUE_CHUNKS = 4  # x Tornado's 64 KiB chunks: what one request may hold in flight
SMALL_BODY = 64 * 1024  # responses up to this size are relayed in one write


@dataclass
class Upstream:
    """Where one request goes and how."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None
    ssl: ssl.SSLContext | bool | None = None
    timeout: aiohttp.ClientTimeout | None = None


class ProxyHandler(BaseHandler):
    """Base of streaming proxy routes. Subclasses implement `upstream()`.

    The request body is read as it arrives (`stream_request_body` is applied to subclasses)
    and fed to the upstream request through a small queue, so a slow upstream slows the
    client down instead of filling memory; the response is relayed chunk by chunk with a
    flush after each, and reading stops when the client goes away.
    """

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    # Lower-case request headers never forwarded, in addition to hop-by-hop ones.
    strip_request_headers: frozenset[str] = frozenset({"cookie", "authorization",
                                                       "x-forwarded-access-token"})
    strip_response_headers: frozenset[str] = frozenset({"set-cookie"})
    max_request_body: int = 5 * 2**30
    # A response without Content-Length (a stream, or a body of unknown size) counts against
    # the caller's stream limit while it is relayed. A subclass that knows from the request
    # which answers are long-lived (the k8s pass-through: watches, followed logs) counts
    # those itself, before the upstream is asked, and turns this off.
    count_streamed_responses: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        tornado.web.stream_request_body(cls)

    async def upstream(self) -> Upstream:  # pragma: no cover - abstract
        raise NotImplementedError

    def upstream_error(self, exc: BaseException) -> ApiError:
        """Map a failure to reach the upstream; override for a route's own shape."""
        if isinstance(exc, asyncio.TimeoutError):
            return ApiError(504, "the upstream service did not answer in time")
        return ApiError(502, f"the upstream service is unreachable ({type(exc).__name__})")

    async def intercept(self, resp: aiohttp.ClientResponse) -> bool:
        """Handle the response instead of relaying it; return True if you did."""
        return False

    def forward_headers(self) -> dict[str, str]:
        """The client's headers minus hop-by-hop, stripped and identity ones (repeated ones
        joined), plus `X-Forwarded-For` as odh-core saw the client."""
        out: dict[str, str] = {}
        auth = self.odh.settings.auth
        drop = HOP_BY_HOP | self.strip_request_headers | IDENTITY_HEADERS | {
            auth.user_header.lower(), auth.groups_header.lower()}
        for name, value in self.request.headers.get_all():
            lname = name.lower()
            if lname in drop or lname.startswith(IDENTITY_HEADER_PREFIXES):
                continue
            out[name] = f"{out[name]}, {value}" if name in out else value
        if self.request.headers.get("Content-Length"):
            out["Content-Length"] = self.request.headers["Content-Length"]
        if self.request.remote_ip:
            out["X-Forwarded-For"] = self.request.remote_ip
        return out

    # -- request side ---------------------------------------------------------------------------
    async def prepare(self) -> None:
        self._proxy_closed = False
        check_proxy_path(self.request.path)  # before routing a byte anywhere
        await super().prepare()
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Future[aiohttp.ClientResponse] | None = None
        self._upstream_cm: Any = None
        has_body = bool(self.request.headers.get("Content-Length", "0") not in ("", "0")
                        or "chunked" in self.request.headers.get("Transfer-Encoding", "").lower())
        if has_body:
            self.request.connection.set_max_body_size(self.max_request_body)
            self._queue = asyncio.Queue(BODY_QUEUE_CHUNKS)
        # Subclasses build their Upstream (session, timeout) synchronously: aiohttp must be in
        # by then, imported off the loop (odh_core.sessions), not by the first request.
        if self.odh.sessions is not None:
            await self.odh.sessions.ready()
        target = await self.upstream()
        self._task = asyncio.ensure_future(self._open(target, self._body() if has_body else None))

    async def _body(self) -> AsyncIterator[bytes]:
        assert self._queue is not None
        while True:
            chunk = await self._queue.get()
            if chunk is _EOF:
                return
            yield chunk

    async def data_received(self, chunk: bytes) -> None:
        if self._queue is None or self._task is None or self._task.done():
            return  # upstream failed already: the error is answered when the body ends
        try:
            self._queue.put_nowait(chunk)
            return
        except asyncio.QueueFull:
            pass
        put = asyncio.ensure_future(self._queue.put(chunk))
        await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    async def _open(self, target: Upstream, body: Any) -> aiohttp.ClientResponse:
        session = target.session or self.odh.http
        cm = session.request(self.request.method, target.url, headers=target.headers, data=body,
                             ssl=target.ssl if target.ssl is not None else True,
                             timeout=target.timeout, allow_redirects=False)
        self._upstream_cm = cm
        return await cm.__aenter__()

    # -- response side --------------------------------------------------------------------------
    async def _proxy(self) -> None:
        import aiohttp

        assert self._task is not None
        if self._queue is not None:
            try:
                self._queue.put_nowait(_EOF)
            except asyncio.QueueFull:
                put = asyncio.ensure_future(self._queue.put(_EOF))
                await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
                if not put.done():
                    put.cancel()
        try:
            resp = await self._task
        except ApiError:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError,
                asyncio.CancelledError) as exc:
            if self._proxy_closed:  # the client left first: nobody to answer, no error
                self.set_status(CLIENT_CLOSED, "Client Closed Request")
                return
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise self.upstream_error(exc) from None
        try:
            if not await self.intercept(resp):
                if self.count_streamed_responses and "Content-Length" not in resp.headers \
                        and resp.status < 300 and self.request.method != "HEAD":
                    await self.acquire_stream("proxy")  # a stream: counts against the limit
                await self._relay(resp)
        finally:
            await self._close_upstream()

    async def _relay(self, resp: aiohttp.ClientResponse) -> None:
        import aiohttp

        self.set_status(resp.status, resp.reason or "Upstream")
        self.clear_header("Content-Type")
        drop = HOP_BY_HOP | self.strip_response_headers
        for name, value in resp.headers.items():
            if name.lower() not in drop or (name.lower() == "content-length"
                                            and self.request.method != "HEAD"):
                self.add_header(name, value)
        if self.request.method == "HEAD" or resp.status in (204, 304):
            self.finish()
            return
        length = resp.content_length
        if length is not None and length <= SMALL_BODY:
            # Small answers (most API calls): one write with the headers, one syscall.
            try:
                body = await resp.read()
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise self.upstream_error(exc) from None
            if not self._proxy_closed:
                self.finish(body)
            return
        try:
            if "Content-Length" not in resp.headers:
                # A stream (a watch, a followed log): its client waits for the headers, which
                # must not be held back until the upstream's first chunk.
                await self.flush()
            async for chunk in resp.content.iter_any():
                if self._proxy_closed:
                    return
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return  # the client went away: stop reading upstream
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            if self._proxy_closed:
                return  # the client left; on_finish closed the upstream response
            # Headers are gone already: all we can do is cut the response short.
            log.warning("upstream broke off mid-response: %s", type(exc).__name__)
            self.request.connection.close()
            return
        self.finish()

    async def _close_upstream(self) -> None:
        cm, self._upstream_cm = self._upstream_cm, None
        if cm is not None:
            try:
                await cm.__aexit__(None, None, None)
            except Exception:  # pragma: no cover - closing a broken response
                pass

    def on_connection_close(self) -> None:
        self._proxy_closed = True
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            task.cancel()
        super().on_connection_close()

    def on_finish(self) -> None:
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            task.cancel()
        if getattr(self, "_upstream_cm", None) is not None:
            asyncio.ensure_future(self._close_upstream())
        super().on_finish()

    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self._proxy()

    head = post = put = patch = delete = options = get


def join_url(base: str, path: str, query: str = "") -> str:
    url = base.rstrip("/") + "/" + path.lstrip("/")
    return f"{url}?{query}" if query else url


def filtered(headers: Iterable[tuple[str, str]], drop: Iterable[str]) -> dict[str, str]:
    lowered = {d.lower() for d in drop}
    return {k: v for k, v in headers if k.lower() not in lowered}
