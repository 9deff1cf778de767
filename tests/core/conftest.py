import asyncio
from typing import Any

import pytest

from odh_core import (ApiError, BaseHandler, HealthCheck, Identity, Plugin, PluginConfig,
                      Route, allow_anonymous, hookimpl, requires)
from odh_core.testing import static_identities

IDENTITIES = {
    "t-alice": Identity("alice", ("users",)),
    "t-root": Identity("root", ("odh-admins",)),
    "secret-token-123": Identity("carol"),
}


class Gate:
    """Lets a test hold a request in flight without sleeping."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()


class WhoAmI(BaseHandler):
    def get(self, cluster: str | None = None) -> None:
        self.ok({"user": self.identity.username})


class SlowHandler(BaseHandler):
    async def get(self) -> None:
        gate: Gate = self.plugin.gate
        gate.entered.set()
        await gate.release.wait()
        self.ok("done")


class StreamHandler(BaseHandler):
    """A long-lived download that counts against the per-user stream limit."""

    async def get(self) -> None:
        await self.acquire_stream("download")
        gate: Gate = self.plugin.gate
        gate.entered.set()
        await gate.release.wait()
        self.ok("streamed")


@allow_anonymous
class Public(BaseHandler):
    def get(self) -> None:
        self.ok("public")


class AdminOnly(BaseHandler):
    @requires("admin")
    async def get(self) -> None:
        self.ok("secret")


class Boom(BaseHandler):
    def get(self) -> None:
        raise RuntimeError("internal detail that must not leak")

    def post(self) -> None:
        raise ApiError(418, "short and stout", extra={"hint": "tea"})


class ToyConfig(PluginConfig):
    flavour: str = "plain"


class ToyPlugin(Plugin):
    Config = ToyConfig

    def __init__(self, ctx: Any):
        super().__init__(ctx)
        self.gate = Gate()
        self.events: list[str] = []

    @hookimpl
    def register_routes(self) -> list[Route]:
        return [Route(r"/api/toy/whoami", WhoAmI), Route(r"/api/toy/slow", SlowHandler),
                Route(r"/api/toy/public", Public), Route(r"/api/toy/admin", AdminOnly),
                Route(r"/api/toy/boom", Boom), Route(r"/api/toy/stream", StreamHandler),
                Route(r"/api/clusters/(?P<cluster>[^/]+)/toy/whoami", WhoAmI)]

    @hookimpl
    def register_health_checks(self) -> list[HealthCheck]:
        async def fine() -> None:
            return None

        async def broken() -> None:
            raise ApiError(503, "toy backend unreachable")

        return [HealthCheck("fine", fine), HealthCheck("backend", broken)] \
            if self.config.flavour == "broken" else [HealthCheck("fine", fine)]

    @hookimpl
    async def startup(self) -> None:
        self.events.append("startup")

    @hookimpl
    async def shutdown(self) -> None:
        self.events.append("shutdown")


@pytest.fixture
def odh_config():
    # No cluster: identities come from the static plugin, admins from the admin group.
    return {"sandbox": {"mode": "off"}, "auth": {"admin_groups": ["odh-admins"]},
            "server": {"grace_period": 5}}


@pytest.fixture
def odh_extra_plugins():
    return [("toy", ToyPlugin), static_identities(IDENTITIES)]
