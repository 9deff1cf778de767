"""Watches over WebSocket, as kube-apiserver serves them.

A `GET ...?watch=true` (or a legacy `/watch/` path) with `Upgrade: websocket` gets the same
events as the chunked HTTP watch, one JSON event per text message. Browsers cannot set an
Authorization header on a WebSocket, so the token may come as the subprotocol
`base64url.bearer.authorization.k8s.io.<base64url token>`; the server never echoes that one
back (it selects the client's next offered protocol, if any).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

import tornado.httputil
import tornado.routing
import tornado.websocket

from .errors import KubeError, bad_request, forbidden
from .handlers import STREAM_SUBRESOURCES, KubeRequest, Target
from .rbac import ANONYMOUS, UNAUTHENTICATED, Attributes, UserInfo
from .reviews import whoami
from .watch import Watcher, WatchSpec, query_bool, serve

TOKEN_PROTOCOL = "base64url.bearer.authorization.k8s.io."


class WebSocketUpgrade(tornado.routing.Matcher):
    """Matches requests asking to upgrade to WebSocket, whatever their path."""

    def match(self, request: tornado.httputil.HTTPServerRequest) -> dict[str, Any] | None:
        if request.headers.get("Upgrade", "").strip().lower() == "websocket":
            return {}
        return None


def _offered(header: str | None) -> list[str]:
    return [p.strip() for p in (header or "").split(",") if p.strip()]


class WatchSocket(KubeRequest, tornado.websocket.WebSocketHandler):
    def initialize(self, server: Any) -> None:
        super().initialize(server)
        self._watcher: Watcher | None = None
        self._spec: WatchSpec | None = None
        self._task: asyncio.Task[None] | None = None

    def check_origin(self, origin: str) -> bool:
        # API clients authenticate with a bearer token, never a cookie: no cross-site risk.
        return True

    def _authenticate(self) -> UserInfo:
        if self.request.headers.get("Authorization"):
            return super()._authenticate()
        for proto in _offered(self.request.headers.get("Sec-WebSocket-Protocol")):
            if proto.startswith(TOKEN_PROTOCOL):
                encoded = proto[len(TOKEN_PROTOCOL):]
                try:
                    token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
                    user = self.srv.authn.authenticate(token.decode().strip())
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    user = None
                if user is None:
                    raise KubeError(401, "Unauthorized", "Unauthorized")
                return whoami(user)
        return UserInfo(ANONYMOUS, (UNAUTHENTICATED,))

    def _watch_target(self) -> Target:
        self.srv.requests.record("GET", self.request.path, self.request.query)
        user = self._impersonate(self._authenticate())
        parts = [p for p in self.request.path.split("/") if p]
        target = None
        if parts[:1] == ["api"] and len(parts) > 2:
            target = self._parse_target("", parts[1], parts[2:])
        elif parts[:1] == ["apis"] and len(parts) > 3:
            target = self._parse_target(parts[1], parts[2], parts[3:])
        if target is None or not self.srv.store.registry.serves(target.group, target.version):
            raise KubeError(404, "the server could not find the requested resource",
                            "NotFound")
        if target.subresource in STREAM_SUBRESOURCES:
            self._no_containers(user, target)
        if not (target.legacy_watch or query_bool(self.get_query_argument("watch", None))):
            raise bad_request("the sandbox serves WebSocket upgrades for watches "
                              "(?watch=true) only")
        rt = target.rt
        authz_ns = target.name if rt.key == ("", "namespaces") and target.name \
            else target.namespace
        attrs = Attributes(user, "watch", True, rt.group, rt.plural, target.subresource,
                           authz_ns, target.name)
        if not self.srv.authz.authorize(attrs)[0]:
            raise forbidden(rt.plural, rt.group, target.name or None, user.username, "watch",
                            authz_ns or None, target.subresource)
        return target

    async def get(self, *args: Any, **kwargs: Any) -> None:
        try:
            t = self._watch_target()
            query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
            self._spec = WatchSpec.from_request(t.rt, t.version, t.name, query, "")
            self._target = t
        except KubeError as e:
            self.set_status(e.code)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(e.body))
            return
        await super().get(*args, **kwargs)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        for proto in subprotocols:
            if not proto.startswith(TOKEN_PROTOCOL):
                return proto
        return None

    def open(self, *args: Any, **kwargs: Any) -> None:
        spec, t = self._spec, self._target
        assert spec is not None
        watcher = Watcher(self.srv.store, t.rt, t.namespace or None, spec.pred,
                          self.request.path)
        too_old = watcher.start(spec.from_rv)
        if too_old is not None:
            self.write_message(json.dumps(watcher.too_old_event(too_old)))
            self.close(1000)
            return
        self._watcher = watcher
        self._task = asyncio.ensure_future(self._run(watcher, spec))

    async def _run(self, watcher: Watcher, spec: WatchSpec) -> None:
        async def send(lines: list[bytes]) -> None:
            for line in lines:
                await self.write_message(line.rstrip(b"\n").decode())
        await serve(watcher, spec, self.srv.watchers, self.srv.bookmark_interval, send,
                    tornado.websocket.WebSocketClosedError)
        # A fault-injected cut ends abnormally; a timeout or server stop, normally.
        self.close(1011 if watcher.abort else 1000)

    def on_message(self, message: str | bytes) -> None:
        return None  # a watch is one-way; whatever the client sends is ignored

    def on_close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
