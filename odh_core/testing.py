"""Pytest fixtures for odh-core and for plugin authors (opt in: `pytest_plugins = ["odh_core.testing"]`).

Real parts, not mocks: `sandbox_kube` is the sandbox Kubernetes API server (HTTPS, RBAC, watch),
`sandbox_s3` is moto's S3 server, `sandbox_hub` the sandbox Hugging Face hub, each on loopback in
a background thread, started once per test session. `odh_server` runs a fresh app (only the
plugins you name) on a loopback port for each test and talks HTTP/WebSocket to it.

Override `odh_plugins`, `odh_extra_plugins` or `odh_config` in your conftest or test module:

    @pytest.fixture
    def odh_plugins():
        return ["example"]

    async def test_hello(odh_server):
        resp = await odh_server.fetch("/api/example/hello", user="alice")
        assert resp.status == 200
"""
from __future__ import annotations

import asyncio
import inspect
import json as jsonlib
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterator, Mapping, Sequence

import pytest
import pytest_asyncio
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.websocket import WebSocketClientConnection, websocket_connect

from .app import App
from .auth import Identity
from .config import deep_merge, validate_settings
from .hookspecs import hookimpl
from .plugin import Plugin

SEED_USERS = ("admin", "alice", "bob")


# -- real servers, once per session -------------------------------------------------------------
@pytest.fixture(scope="session")
def sandbox_kube() -> Iterator[Any]:
    """The sandbox Kubernetes API server (thread runner): https_url, ca_file, token(user), faults."""
    from odh_sandbox.kube import SandboxKube

    kube = SandboxKube().start()
    try:
        yield kube
    finally:
        kube.stop()


@pytest.fixture(scope="session")
def sandbox_s3() -> Iterator[Any]:
    """moto's S3 server on loopback: endpoint, access_key, secret_key, default_bucket."""
    from odh_sandbox.s3 import SandboxS3

    s3 = SandboxS3().start()
    try:
        yield s3
    finally:
        s3.stop()


@pytest.fixture(scope="session")
def sandbox_hub() -> Iterator[Any]:
    """The sandbox Hugging Face hub with its demo models: endpoint, add_model, faults."""
    from odh_sandbox.hub import SandboxHub, seed_demo

    hub = SandboxHub(tokens={"hf-sandbox-token": "sandbox-user"})
    seed_demo(hub)
    hub.start_in_thread()
    try:
        yield hub
    finally:
        hub.stop_thread()


@pytest.fixture(scope="session")
def tokens(sandbox_kube: Any) -> dict[str, str]:
    """Bearer tokens of the sandbox's seed users: admin, alice, bob."""
    return {u: sandbox_kube.token(u) for u in SEED_USERS}


# -- the app under test -------------------------------------------------------------------------
@pytest.fixture
def odh_plugins() -> Sequence[str]:
    """Installed plugins to enable (all others are off). Override per test module."""
    return []


@pytest.fixture
def odh_extra_plugins() -> Sequence[tuple[str, type[Plugin]]]:
    """Throwaway plugin classes to load as if installed: [(name, PluginClass)]."""
    return []


@pytest.fixture
def odh_base_config(sandbox_kube: Any) -> dict[str, Any]:
    """Core config wired to the session's sandbox API server as odh-core's service account."""
    return {
        "kubernetes": {"host": sandbox_kube.https_url, "ca_file": sandbox_kube.ca_file,
                       "token": sandbox_kube.token("odh-core")},
        "sandbox": {"mode": "off"},
        "server": {"grace_period": 5, "shutdown_timeout": 5},
    }


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any]) -> dict[str, Any]:
    """The config the app is built with; override and deep-merge over `odh_base_config`."""
    return odh_base_config


def build_settings(config: Mapping[str, Any], plugins: Sequence[str],
                   extra: Sequence[tuple[str, type[Plugin]]] = ()) -> Any:
    enabled = {name: {"enabled": True} for name in [*plugins, *(n for n, _ in extra)]}
    return validate_settings(deep_merge({"plugin_autoload": False, "plugins": enabled}, config))


@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class OdhTestServer:
    """A started app on 127.0.0.1:<port> with HTTP and WebSocket helpers."""

    def __init__(self, app: App, server: HTTPServer, port: int, tokens: Mapping[str, str]):
        self.app = app
        self.server = server
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.tokens = dict(tokens)
        self.client = AsyncHTTPClient(force_instance=True, max_clients=100)

    def auth_headers(self, user: str | None = None, token: str | None = None) -> dict[str, str]:
        token = token or (self.tokens[user] if user else None)
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def fetch(self, path: str, method: str = "GET", *, user: str | None = None,
                    token: str | None = None, headers: Mapping[str, str] | None = None,
                    body: bytes | str | None = None, json: Any = None,
                    timeout: float = 30, **kwargs: Any) -> Response:
        hdrs = {**self.auth_headers(user, token), **(headers or {})}
        if json is not None:
            body = jsonlib.dumps(json)
            hdrs.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        req = HTTPRequest(self.url + path, method=method, headers=hdrs, body=body,
                          request_timeout=timeout, allow_nonstandard_methods=True,
                          follow_redirects=False, **kwargs)
        resp = await self.client.fetch(req, raise_error=False)
        if resp.code == 599 and resp.error is not None:
            raise resp.error
        return Response(resp.code, resp.headers, resp.body or b"")

    async def ws(self, path: str, *, user: str | None = None, token: str | None = None,
                 headers: Mapping[str, str] | None = None,
                 subprotocols: list[str] | None = None,
                 origin: str | None = None) -> WebSocketClientConnection:
        hdrs = {**self.auth_headers(user, token), **(headers or {})}
        if origin is not None:
            hdrs["Origin"] = origin
        req = HTTPRequest(self.url.replace("http", "ws", 1) + path, headers=hdrs,
                          request_timeout=30)
        return await websocket_connect(req, subprotocols=subprotocols)

    async def close(self) -> None:
        self.server.stop()
        await self.app.drain(self.app.settings.server.grace_period)
        await self.server.close_all_connections()
        await self.app.stop()
        self.client.close()


async def start_server(settings: Any, extra: Sequence[tuple[str, type[Plugin]]] = (),
                       tokens: Mapping[str, str] | None = None) -> OdhTestServer:
    app = App(settings, extra_plugins=extra)
    await app.start()
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app.tornado, xheaders=True, max_body_size=settings.server.max_body_size)
    server.add_sockets(sockets)
    return OdhTestServer(app, server, sockets[0].getsockname()[1], tokens or {})


@pytest_asyncio.fixture
async def odh_server(odh_config: dict[str, Any], odh_plugins: Sequence[str],
                     odh_extra_plugins: Sequence[tuple[str, type[Plugin]]],
                     request: pytest.FixtureRequest) -> AsyncIterator[OdhTestServer]:
    """A running app with `odh_plugins` enabled, wired to the sandbox API server."""
    # Seed users' tokens only when the config talks to the sandbox (it usually does).
    toks = request.getfixturevalue("tokens") if "sandbox_kube" in request.fixturenames else {}
    server = await start_server(build_settings(odh_config, odh_plugins, odh_extra_plugins),
                                odh_extra_plugins, toks)
    try:
        yield server
    finally:
        await server.close()


# -- identities without a cluster ---------------------------------------------------------------
def static_identities(mapping: Mapping[str, Identity]) -> tuple[str, type[Plugin]]:
    """A throwaway plugin mapping bearer tokens to identities (for tests that need no cluster).

    Use: `odh_extra_plugins` returning `[static_identities({"t1": Identity("alice")})]`.
    """
    table = dict(mapping)

    class StaticIdentities(Plugin):
        @hookimpl
        def identify_request(self, handler: Any) -> Identity | None:
            token = handler.request_token()
            ident = table.get(token) if token else None
            if ident is not None and ident.token is None:
                ident = Identity(ident.username, ident.groups, ident.uid, token, "static")
            return ident

    return ("static-identities", StaticIdentities)


# -- real upstream servers for proxy tests ------------------------------------------------------
class LoopbackServer:
    """A Tornado application served on 127.0.0.1:<free port> for a test: a real upstream for
    proxy, federation or service tests. Use as `async with LoopbackServer(app) as up: up.url`,
    or call `await up.close()` yourself."""

    def __init__(self, app: Any, **server_kwargs: Any):
        server_kwargs.setdefault("max_body_size", 2**31)
        self.app = app
        self.server = HTTPServer(app, **server_kwargs)
        sockets = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self.server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()

    async def __aenter__(self) -> "LoopbackServer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


# -- waiting for something that happens elsewhere -----------------------------------------------
def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what would point a child odh-core elsewhere (the old
    backends' AWS_/HF_ variables, ODH_ overrides, KUBECONFIG, APP_ENV), plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "HF_", "ODH_", "KUBECONFIG", "APP_ENV"))}
    env.update(extra or {})
    return env


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Callable[[], str],
               timeout: float = 60) -> None:
    """Poll `<url>/readyz` of an odh-core started as a child process until it answers 200;
    RuntimeError with the end of its log when it exits first or the deadline passes (the
    caller stops it then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"odh-core exited {proc.returncode}:\n{log()}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"odh-core not ready in {timeout} s:\n{log()}")


async def eventually(check: Any, what: str = "the condition", timeout: float = 10.0,
                     interval: float = 0.02) -> Any:
    """Re-run `check` (sync or async) until it returns something truthy, and return that;
    fail the test when `timeout` seconds pass first. For state that changes in another task,
    thread or process (a cache fed by a watch, a server draining): poll with a deadline, never
    sleep a fixed time and hope."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


class RawUpstream:
    """A raw TCP upstream whose misbehaviour a test switches: "hang" (accept, never answer),
    "reset" (read the request, then RST), "ok" (200 with the connection count as body);
    `resets_left = n` resets the next n requests. Counts connections. For retry and breaker
    tests, where a well-behaved HTTP server cannot fail the way networks do."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.resets_left = 0
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def start(self) -> "RawUpstream":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        if self.mode == "hang":
            self._held.append(writer)
            return
        if self.mode == "reset" or self.resets_left > 0:
            self.resets_left -= 1
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
            writer.transport.abort()
            return
        body = str(self.connections).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> "RawUpstream":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def stop(self) -> None:
        for w in self._held:
            w.transport.abort()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
