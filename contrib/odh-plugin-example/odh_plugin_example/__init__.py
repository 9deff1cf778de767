"""An odh-core plugin as a package team would ship it: one route, a config model, tests.

Install it next to odh-core (`pip install -e contrib/odh-plugin-example`) and it is found
through its entry point `example` in group `odh_core.plugins`; `plugins: {example: {enabled:
false}}` in odh.yaml switches it off.
"""
from __future__ import annotations

from pydantic import Field

from odh_core import BaseHandler, Plugin, PluginConfig, Route, hookimpl


class ExampleConfig(PluginConfig):
    greeting: str = Field("Hello", description="Word the greeting starts with.")


class HelloHandler(BaseHandler):
    """Greet the caller by their cluster user name."""

    def get(self) -> None:
        self.ok({"greeting": f"{self.plugin.config.greeting}, {self.identity.username}",
                 "groups": list(self.identity.groups)})


class ExamplePlugin(Plugin):
    Config = ExampleConfig

    @hookimpl
    def register_routes(self) -> list[Route]:
        return [Route(r"/api/example/hello", HelloHandler,
                      description="Greets the authenticated user.")]
