"""Real upstream servers for the services tests: an ML service stand-in and a fake Prometheus."""
from __future__ import annotations

import socket
from typing import Any

import pytest

from odh_core.testing import LoopbackServer
import tornado.web


class Recorder:
    """What an upstream saw: one dict per request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


class ServiceEcho(tornado.web.RequestHandler):
    def initialize(self, rec: Recorder) -> None:
        self.rec = rec

    def _answer(self, path: str) -> None:
        seen = {"method": self.request.method, "path": self.request.path,
                "query": self.request.query, "size": len(self.request.body),
                "auth": self.request.headers.get("Authorization"),
                "cookie": self.request.headers.get("Cookie")}
        self.rec.requests.append(seen)
        self.finish(seen)

    get = post = put = delete = patch = _answer  # type: ignore[assignment]


class FakePrometheus(tornado.web.RequestHandler):
    """`query` decides the answer: up -> success, bad -> status error, html -> a login page."""

    def initialize(self, rec: Recorder) -> None:
        self.rec = rec

    def get(self, port: str, api: str) -> None:
        q = self.get_argument("query", "")
        self.rec.requests.append({"port": port, "api": api, "query": self.request.query,
                                  "auth": self.request.headers.get("Authorization")})
        if q == "html":
            self.set_header("Content-Type", "text/html")
            self.finish("<html><body>Log in with OpenShift</body></html>")
        elif q == "bad":
            self.set_status(400)
            self.finish({"status": "error", "errorType": "bad_data",
                         "error": "1:4: parse error: unexpected end of input"})
        else:
            self.finish({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"__name__": "up"}, "value": [1700000000, "1"]}]}})


class Upstream(LoopbackServer):
    """A recording upstream: every handler gets the shared `rec`."""

    def __init__(self, handlers: list[Any]) -> None:
        self.rec = Recorder()
        super().__init__(tornado.web.Application([(p, h, {"rec": self.rec})
                                                  for p, h in handlers]), max_body_size=2**30)


@pytest.fixture
async def ml_service():
    up = Upstream([(r"/(.*)", ServiceEcho)])
    yield up
    await up.close()


@pytest.fixture
async def prometheus():
    up = Upstream([(r"/(tenancy|cluster)/api/v1/(query|query_range)", FakePrometheus)])
    yield up
    await up.close()


@pytest.fixture
def odh_plugins():
    return ["services"]


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
