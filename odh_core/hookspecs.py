"""The plugin contract: every hook odh-core calls, each with its documentation.

Hooks are methods of an `odh_core.Plugin` subclass marked with `@hookimpl`. The core calls them
with keyword arguments, so an implementation may accept any subset of the documented arguments.
An implementation may be a coroutine function wherever the docstring says "may be async"; the
core awaits it. pluggy itself knows nothing of asyncio, which is why no hook here is
`firstresult`: the core walks the implementations itself (in pluggy's call order: last
registered first, `tryfirst`/`trylast` respected) and stops where a hook says it stops.

A test (tests/test_hookspecs.py) fails when a hook has no docstring, and the plugin author guide
is generated from this module.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .app import App
    from .auth import Identity
    from .plugin import HealthCheck, Route
    from .web import BaseHandler

PROJECT = "odh_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_routes(app: "App") -> "list[Route]":
    """Return the HTTP and WebSocket routes this plugin serves.

    Called once while the application is built, before the event loop serves anything. Each
    `Route` names a URL pattern (Tornado regex syntax, anchored) and a handler class derived from
    `odh_core.BaseHandler` or `odh_core.BaseWebSocketHandler`; the core refuses any other class
    and refuses a pattern that another plugin (or the core) already registered for the same
    host (`Route.host`; a `Route.fallback` yields instead: `odh_core.Frontend`). Handlers are
    denied to callers without an identity unless the method is marked `@allow_anonymous`.
    Must be synchronous.
    """


@hookspec
def startup(app: "App") -> None:
    """Open clients, fill caches and start background tasks; the event loop is running.

    May be async. Called in plugin load order before the server accepts connections; an
    exception stops the boot with the plugin's name in the message. Every startup stands
    between the process and its first answer: start a round trip (a cluster read) as a task
    that the routes needing its result await (the s3 plugin loads its settings so), and import
    aiohttp inside the functions that use it (the core imports it off the loop once the
    server listens; `app.http` and `app.kube` work before and after).
    """


@hookspec
def shutdown(app: "App") -> None:
    """Close what `startup` opened. May be async.

    Called on SIGTERM (after in-flight requests drained or the grace period ran out) and when a
    test app stops, in reverse load order, each with a timeout (`server.shutdown_timeout`).
    Exceptions are logged, never raised: one plugin must not keep the others from closing.
    """


@hookspec
def identify_request(handler: "BaseHandler") -> "Identity | None":
    """Say who is calling: return an `Identity`, or None to let the next provider try.

    May be async. Called once per request (HTTP and WebSocket upgrade) before the handler
    method; the first non-None answer wins. The core's own providers (bearer token validated
    by the cluster, trusted proxy headers, dev user) are plugins of this hook registered
    `trylast`, so a plugin can add a provider in front of them. Raise `ApiError(401, ...)` to
    reject a credential that is present but wrong; raise `ApiError(503, ...)` when the
    authority that would know is unreachable.
    """


@hookspec
def authorize(identity: "Identity", action: str, resource: "dict[str, Any]") -> "bool | None":
    """Decide whether `identity` may perform `action` on `resource`.

    May be async. Called by `BaseHandler.require(action, **resource)` and the `@requires`
    decorator. Every implementation is asked: any False denies, and without at least one True
    the answer is no (deny by default). Return None when the action is not yours to judge. The
    core judges the action "admin" (admin groups, else the configured access review sent with
    the user's own token, cached per token).
    """


@hookspec
def prepare_request(handler: "BaseHandler") -> None:
    """Run per request after identity and before the handler method (Tornado's middleware).

    May be async. Use it for audit, feature flags or limits. Raise `ApiError` to answer the
    request yourself (e.g. 429); the handler method is then not called.
    """


@hookspec
def request_finished(handler: "BaseHandler", duration: float) -> None:
    """Observe a finished request (`duration` in seconds, status in `handler.get_status()`).

    Synchronous and on the hot path: keep it cheap. Exceptions are logged and swallowed.
    """


@hookspec
def handle_exception(handler: "BaseHandler", exc: BaseException) -> "dict[str, Any] | None":
    """Turn an exception into a response body, or return None to pass.

    Synchronous. Called when a handler raised something that is not an `ApiError`; the first
    non-None dict is written as JSON (set the status with `handler.set_status` first). The
    core's own default (500 with a generic message and the request id, traceback only in the
    log) runs when nobody answers.
    """


@hookspec
def register_health_checks(app: "App") -> "list[HealthCheck]":
    """Return the readiness checks `/readyz` runs (each with its own timeout).

    Synchronous. A check is an async callable returning None (healthy) or raising; a check
    marked `critical=False` degrades `/readyz` without failing it.
    """


@hookspec
def register_commands(subparsers: Any) -> None:
    """Add subcommands to the `odh-core` CLI.

    Synchronous. `subparsers` is the argparse sub-parser action: call
    `subparsers.add_parser(name, help=...)` and `parser.set_defaults(func=...)`, where `func`
    takes the parsed args and returns an exit code (it may be a coroutine function).
    """
