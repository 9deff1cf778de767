"""`/api/k8s/<path>`: the streaming pass-through, on the core's shared proxy.

The request goes to `<apiserver>/<path>?<query>` (query verbatim, repeated keys kept) as the
caller: their token replaces whatever credentials the request carried. Cookies, every
configured token header and `Impersonate-*` never reach the API server (the core proxy drops
Impersonate-* and hop-by-hop headers; we add the token headers the deployment configured).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from odh_core import ApiError, ProxyHandler, Upstream

from .paths import is_stream, kube_path, stream_seconds
from .status import PLAIN_NOT_FOUND, not_found_status

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

# The apiserver's plain 404 is 19 bytes; anything much longer is some other text 404
# (e.g. a service behind .../proxy/) and is relayed untouched.
_PLAIN_404_MAX = 64


class KubeProxyHandler(ProxyHandler):
    """Forward a request to the Kubernetes API server as the caller."""

    count_streamed_responses = False  # watches and followed logs are counted up front

    async def upstream(self) -> Upstream:
        path = kube_path(self.request.path)
        kube = self.kube  # the addressed cluster; 503 JSON when none is configured
        token = self.token
        if is_stream(path, self._stream_args()):
            await self.acquire_stream("watch")  # 429 before any upstream watch is opened
        query = self.request.query
        headers = self.forward_headers()
        headers["Authorization"] = f"Bearer {token}"
        return Upstream(url=kube.url("/" + path) + (f"?{query}" if query else ""),
                        headers=headers, session=kube.session, ssl=kube.conn.ssl,
                        timeout=self._timeout(path))

    def forward_headers(self) -> dict[str, str]:
        drop = {h.lower() for h in self.odh.settings.auth.token_headers}
        return {k: v for k, v in super().forward_headers().items() if k.lower() not in drop}

    def _timeout(self, path: str) -> aiohttp.ClientTimeout:
        import aiohttp

        cfg = self.plugin.config
        connect = cfg.connect_timeout or self.odh.settings.kubernetes.connect_timeout
        args = self._stream_args()
        if is_stream(path, args):
            # A quiet watch is normal: no idle timeout, unless the client bounded the watch.
            seconds = stream_seconds(args)
            read = seconds + cfg.stream_grace if seconds is not None else None
        else:
            read = cfg.idle_timeout
        # total=None: the session default (5 min in aiohttp) would cut long lists and watches.
        return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect,
                                     sock_read=read)

    def _stream_args(self) -> dict[str, str | None]:
        return {name: self.get_query_argument(name, None)
                for name in ("watch", "follow", "timeoutSeconds")}

    def upstream_error(self, exc: BaseException) -> ApiError:
        err = super().upstream_error(exc)
        if err.status == 504:
            return ApiError(504, "the Kubernetes API server did not answer in time")
        return ApiError(err.status, "the Kubernetes API server is unreachable "
                        f"({type(exc).__name__})")

    async def intercept(self, resp: aiohttp.ClientResponse) -> bool:
        """Turn the apiserver's plain-text `404 page not found` into a 404 `Status`."""
        if resp.status != 404 or self.request.method == "HEAD" or not resp.headers.get(
                "Content-Type", "").lower().startswith("text/plain"):
            return False
        length = resp.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > _PLAIN_404_MAX \
                or resp.headers.get("Content-Encoding"):
            return False
        body = await resp.content.read()  # at most _PLAIN_404_MAX bytes
        self.set_status(404)
        if body.strip() == PLAIN_NOT_FOUND:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(not_found_status()).encode())
            return True
        # Some other short text 404: hand it back as it came.
        for name in ("Content-Type", "Cache-Control", "X-Content-Type-Options"):
            if name in resp.headers:
                self.set_header(name, resp.headers[name])
        self.finish(body)
        return True

