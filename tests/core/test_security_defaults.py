"""Deny by default, for every route every installed plugin registers (the test enumerates them),
and plugins keep to the public API."""
import ast
import re
from pathlib import Path

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from odh_core import BaseWebSocketHandler
from odh_core.app import App
from odh_core.config import validate_settings
from odh_core.web import is_anonymous

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Routes that answer without identity on purpose. Adding one here is a security decision.
ANONYMOUS = {
    ("/api/health", "GET"), ("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET"),
}
ANONYMOUS_PATTERNS = [
    re.compile(r"^/api/openapi"),  # the API description (issue 9)
]


def sample_path(pattern: str) -> str:
    """A concrete path the route's regex matches, built by walking the parsed regex."""
    from re import _constants as c, _parser as parser  # stdlib internals, test-only

    def gen(items) -> str:
        out = []
        for op, av in items:
            if op is c.LITERAL:
                out.append(chr(av))
            elif op in (c.ANY, c.NOT_LITERAL):
                out.append("x" if op is c.ANY or av != ord("x") else "y")
            elif op is c.IN:
                out.append(_from_class(av))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                lo, _hi, sub = av
                out.append(gen(sub) * max(lo, 1))
            elif op is c.SUBPATTERN:
                out.append(gen(av[-1]))
            elif op is c.BRANCH:
                out.append(gen(av[1][0]))
            elif op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            else:
                raise AssertionError(f"cannot sample {op} in {pattern!r}")
        return "".join(out)

    def _from_class(items) -> str:
        negated = any(op is c.NEGATE for op, _ in items)
        if negated:
            return "x"
        for op, av in items:
            if op is c.LITERAL:
                return chr(av)
            if op is c.RANGE:
                return chr(av[0])
            if op is c.CATEGORY:
                return "0" if av is c.CATEGORY_DIGIT else "x"
        return "x"

    return gen(parser.parse(pattern))


def implemented(handler: type) -> list[str]:
    if issubclass(handler, BaseWebSocketHandler):
        return ["GET"]
    return [m for m in METHODS if m in handler.SUPPORTED_METHODS and any(
        m.lower() in vars(k) for k in handler.__mro__
        if k.__module__.split(".")[0] not in ("tornado",))]


def all_plugins_app() -> App:
    return App(validate_settings({"sandbox": {"mode": "off"}, "plugin_autoload": True,
                                  "logging": {"access_log": False}}))


async def test_every_route_refuses_callers_without_identity():
    app = all_plugins_app()
    server = HTTPServer(app.tornado)
    socks = bind_sockets(0, "127.0.0.1")
    server.add_sockets(socks)
    base = f"http://127.0.0.1:{socks[0].getsockname()[1]}"
    client = AsyncHTTPClient(force_instance=True)
    checked, problems = 0, []
    try:
        for plugin, route in app.routes:
            path = sample_path(route.pattern)
            assert re.fullmatch(route.pattern, path), f"sample {path!r} !~ {route.pattern!r}"
            for method in implemented(route.handler):
                anonymous = is_anonymous(route.handler, method) or (
                    path, method) in ANONYMOUS or any(p.match(path) for p in ANONYMOUS_PATTERNS)
                headers = {}
                if issubclass(route.handler, BaseWebSocketHandler):
                    headers = {"Upgrade": "websocket", "Connection": "Upgrade",
                               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                               "Sec-WebSocket-Version": "13"}
                resp = await client.fetch(HTTPRequest(
                    base + path, method=method, headers=headers,
                    body=b"{}" if method in ("POST", "PUT", "PATCH") else None,
                    allow_nonstandard_methods=True, follow_redirects=False), raise_error=False)
                checked += 1
                if anonymous:
                    if (path, method) not in ANONYMOUS and not any(
                            p.match(path) for p in ANONYMOUS_PATTERNS) and not getattr(
                            route.handler, "odh_anonymous_reason", ""):
                        problems.append(f"{plugin} {method} {route.pattern}: anonymous without "
                                        "a documented reason (odh_anonymous_reason)")
                elif resp.code != 401:
                    problems.append(f"{plugin} {method} {route.pattern} -> {resp.code}")
    finally:
        client.close()
        server.stop()
        await server.close_all_connections()
    assert checked >= len(app.routes)
    assert problems == []


def test_sample_paths():
    assert re.fullmatch(r"/api/k8s/(.*)", sample_path(r"/api/k8s/(.*)"))
    assert sample_path(r"/api/objects/([^/]+)/(?P<key>.+)") == "/api/objects/x/x"
    assert sample_path(r"/api/hf/imports/([0-9a-f]{16})") == "/api/hf/imports/" + "0" * 16


# Tests may also use the test kit and the sandbox stand-ins directly (e.g. a private S3 to
# stop mid-upload); plugin code may not.
PUBLIC_TEST_PREFIXES = ("odh_core.testing", "odh_sandbox")


def test_plugins_import_only_the_public_api():
    offenders = []
    for py in [*ROOT.glob("plugins/**/*.py"), *ROOT.glob("contrib/**/*.py")]:
        tree = ast.parse(py.read_text(), str(py))
        in_tests = "tests" in py.parts
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("odh_core.") and not (
                        in_tests and name.startswith(PUBLIC_TEST_PREFIXES)):
                    offenders.append(f"{py.relative_to(ROOT)}: {name}")
    assert offenders == []
