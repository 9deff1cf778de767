"""The fuzz harness fails when it should: a 500, a body that breaks its declared schema, an
error that is not the core's JSON body, a request that hangs."""
import asyncio
from typing import Any

import pytest

from odh_core import ApiError, BaseHandler, Identity, Plugin, Route, hookimpl
from odh_core.openapi import document_for
from odh_core.testing import static_identities

from .test_fuzz_api import fuzz


class Crashes(BaseHandler):
    def get(self, n: str) -> None:
        raise RuntimeError("boom")


class LiesAboutItsBody(BaseHandler):
    def get(self) -> None:
        self.write_json({"count": "not a number"})


class PlainTextUpstreamError(BaseHandler):
    def get(self) -> None:
        self.set_status(502)
        self.finish("bad gateway")


class Hangs(BaseHandler):
    async def get(self) -> None:
        await asyncio.Event().wait()


class Fine(BaseHandler):
    def post(self) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "an object is required")
        self.ok(body)


class Broken(Plugin):
    @hookimpl
    def register_routes(self) -> list[Route]:
        return [
            Route(r"/api/broken/crash/([0-9]+)", Crashes, description="Crashes."),
            Route(r"/api/broken/lies", LiesAboutItsBody, description="Lies.", responses={
                200: {"type": "object", "required": ["count"],
                      "properties": {"count": {"type": "integer"}}}}),
            Route(r"/api/broken/gateway", PlainTextUpstreamError, description="Bad gateway."),
            Route(r"/api/broken/hangs", Hangs, description="Hangs."),
            Route(r"/api/broken/fine", Fine, description="Fine.", envelope=True,
                  request_body={"type": "object"}),
        ]


@pytest.fixture
def odh_plugins():
    return []


@pytest.fixture
def odh_config():
    return {"sandbox": {"mode": "off"}, "logging": {"access_log": False}}


@pytest.fixture
def odh_extra_plugins():
    return [("broken", Broken), static_identities({"t-user": Identity("user")})]


async def test_the_harness_reports_each_kind_of_failure(odh_server):
    doc = document_for(odh_server.app)
    report = await asyncio.to_thread(fuzz, doc, odh_server.url, "t-user", False, examples=3,
                                     timeout=1.0)
    text = "\n".join(report["problems"])
    assert "GET /api/broken/crash/" in text and "-> 500" in text
    assert "GET /api/broken/lies -> 200" in text
    assert "GET /api/broken/gateway -> 502 without the JSON error body" in text
    assert "GET /api/broken/hangs: no answer within" in text
    assert "/api/broken/fine" not in text
    assert "POST /api/broken/fine" in report["ran"]
