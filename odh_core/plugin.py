"""What a plugin is and what it is given: Plugin, PluginContext, Route, HealthCheck."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

    from .app import App
    from .kube import KubeClient
    from .observability import PluginMetrics


class PluginConfig(BaseModel):
    """Base of every plugin's `Config`: unknown keys are an error (typos must not pass)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Plugin:
    """Base class of every odh-core plugin, core or third-party.

    Subclass it, declare `Config` (a `PluginConfig` subclass) and mark hook methods with
    `@hookimpl`. Expose it through an entry point in the group `odh_core.plugins`; the entry
    point's name is the plugin's identity (YAML key under `plugins:`, logger `odh.plugin.<name>`,
    metrics label).
    """

    Config: type[PluginConfig] = PluginConfig

    def __init__(self, ctx: "PluginContext"):
        self.ctx = ctx

    @property
    def name(self) -> str:
        return self.ctx.name

    @property
    def config(self) -> Any:
        return self.ctx.config

    @property
    def log(self) -> logging.Logger:
        return self.ctx.log


@dataclass
class PluginContext:
    """Everything the core hands a plugin. Clients are reached through `app` once started."""

    name: str
    config: Any
    log: logging.Logger
    metrics: "PluginMetrics"
    app: "App"
    distribution: str | None = None
    version: str | None = None

    @property
    def kube(self) -> "KubeClient":
        return self.app.kube

    @property
    def http(self) -> "aiohttp.ClientSession":
        """The app's outbound HTTP session (pooled; honours the configured proxy and CA)."""
        return self.app.http


@dataclass
class Route:
    """One URL pattern served by one handler class.

    `order` sorts routes before Tornado sees them: catch-all patterns (an SPA fallback) use a
    high number so specific routes win. `description` and the handler methods' docstrings feed
    the OpenAPI document (`/api/openapi.json`); the optional fields below make it more precise.
    A handler method may also carry an `openapi` dict (merged into its operation object).
    """

    pattern: str
    handler: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    description: str = ""
    order: int = 0
    # OpenAPI declarations (all optional; see odh_core.openapi for what is derived without them).
    # Names of the pattern's unnamed groups, in order (named groups name themselves).
    params: tuple[str, ...] = ()
    # Request body JSON schema, for every method that takes one or as {"post": schema, ...}.
    request_body: dict[str, Any] | None = None
    # Response schemas by status ({200: schema}) or by method ({"get": {200: schema}}).
    responses: dict[Any, Any] = field(default_factory=dict)
    # True: a 2xx answer is the `{success:true, data, timestamp}` envelope (BaseHandler.ok).
    envelope: bool = False
    # OpenAPI tag (defaults to the plugin's name).
    tag: str | None = None
    # True: GET on this route changes state (an old frontend calls it as GET). A browser's
    # cross-site GET is then refused like any cross-site POST/PUT/PATCH/DELETE (CSRF).
    state_changing_get: bool = False
    # The one host name (`Host` header, without port, any case) this route is served on; None:
    # every host. Lets several frontends each own `/` of their origin on one port.
    host: str | None = None
    # True: the route yields to another plugin's route with the same pattern and host (a
    # frontend without a configured build) instead of being refused as a duplicate.
    fallback: bool = False


@dataclass
class HealthCheck:
    """A readiness check run by `/readyz`: an async callable that raises when unhealthy."""

    name: str
    check: Callable[[], Awaitable[Any]]
    timeout: float = 2.0
    critical: bool = True
