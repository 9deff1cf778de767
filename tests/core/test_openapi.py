"""The OpenAPI document: derived from the routes, valid OpenAPI 3.1, every route described."""
from typing import Any

import pytest
from openapi_spec_validator import validate

from odh_core import (BaseHandler, BaseWebSocketHandler, Plugin, Route, allow_anonymous,
                      hookimpl, requires)
from odh_core.app import App
from odh_core.loader import discover
from odh_core.openapi import build_document, handler_methods, path_variants
from odh_core.testing import build_settings

from .conftest import IDENTITIES  # noqa: F401  (the static identities the core tests use)


def all_plugins_app() -> App:
    """An app with every installed plugin enabled (built, not started: no cluster needed)."""
    return App(build_settings({"sandbox": {"mode": "off"}}, sorted(discover())))


@pytest.fixture(scope="module")
def full_doc() -> dict[str, Any]:
    return build_document(all_plugins_app())


def operations(doc: dict[str, Any]):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not method.startswith("x-"):
                yield path, method, op


def test_the_document_is_valid_openapi_3_1(full_doc):
    assert full_doc["openapi"].startswith("3.1")
    validate(full_doc)  # raises with the offending location


def test_every_registered_route_is_in_the_document_with_a_description(full_doc):
    app = all_plugins_app()
    documented = {item["x-odh-pattern"] for item in full_doc["paths"].values()}
    assert {r.pattern for _, r in app.routes} - documented == set()
    undescribed = [f"{m.upper()} {p} ({full_doc['paths'][p]['x-odh-plugin']})"
                   for p, m, op in operations(full_doc)
                   if not (op.get("summary") and op.get("description"))]
    assert undescribed == [], "give these routes a Route(description=...) or a docstring"


def test_operation_ids_are_unique(full_doc):
    ids = [op["operationId"] for _, _, op in operations(full_doc)]
    assert len(ids) == len(set(ids))


def test_every_operation_documents_errors_with_the_core_body(full_doc):
    for path, method, op in operations(full_doc):
        assert {"4XX", "5XX"} <= set(op["responses"]), (method, path)
    body = full_doc["components"]["schemas"]["Error"]
    assert set(body["required"]) == {"success", "error", "message", "statusCode", "timestamp",
                                     "requestId"}


# -- what is derived, on a toy plugin ---------------------------------------------------------
class Items(BaseHandler):
    """Items of a shelf."""

    def get(self, shelf: str, item: str | None = None) -> None:
        """Read one item, or list the shelf."""
        self.ok([])

    @requires("admin")
    async def delete(self, shelf: str, item: str | None = None) -> None:
        self.ok(None)

    get.openapi = {"parameters": [{"name": "limit", "in": "query",  # type: ignore[attr-defined]
                                   "schema": {"type": "integer"}}]}


@allow_anonymous
class Ping(BaseHandler):
    def get(self) -> None:
        self.write_json({"pong": True})

    def post(self) -> None:
        self.write_json({"pong": True})


class Feed(BaseWebSocketHandler):
    """Events of a cluster."""


class Thing(BaseHandler):
    def put(self, *args: Any) -> None:
        self.ok(None)


class ToyApi(Plugin):
    """A toy API."""

    @hookimpl
    def register_routes(self) -> list[Route]:
        return [
            Route(r"/api/toy/shelves/([a-z]+)(?:/(.+))?/?", Items, envelope=True,
                  description="Shelf items."),
            Route(r"/api/toy/ping", Ping, description="Ping.",
                  request_body={"type": "object", "required": ["n"]},
                  responses={200: {"type": "object", "required": ["pong"]}}),
            Route(r"/wss/toy/(?P<cluster>[^/]+)/feed", Feed, description="A feed."),
            Route(r"/api/toy/things/([^/]+)/(.*)", Thing, params=("kind", "rest"),
                  description="Things."),
        ]


@pytest.fixture
def toy_doc() -> dict[str, Any]:
    app = App(build_settings({"sandbox": {"mode": "off"}}, [], [("toy", ToyApi)]),
              extra_plugins=[("toy", ToyApi)])
    doc = build_document(app)
    validate(doc)
    return doc


def test_path_parameters_come_from_the_regex_and_the_method_signature(toy_doc):
    paths = toy_doc["paths"]
    assert "/api/toy/shelves/{shelf}/{item}" in paths and "/api/toy/shelves/{shelf}" in paths
    params = paths["/api/toy/shelves/{shelf}/{item}"]["get"]["parameters"]
    by_name = {p["name"]: p for p in params}
    assert by_name["shelf"]["schema"]["pattern"] == "^(?:[a-z]+)$"
    assert by_name["item"]["in"] == "path" and by_name["item"]["required"] is True
    assert by_name["limit"]["in"] == "query"  # the method's own `openapi` dict, merged
    # declared names for unnamed groups; named groups name themselves
    assert "/api/toy/things/{kind}/{rest}" in paths
    assert "/wss/toy/{cluster}/feed" in paths


def test_methods_security_and_descriptions_are_derived(toy_doc):
    shelf = toy_doc["paths"]["/api/toy/shelves/{shelf}"]
    assert set(shelf) - {"x-odh-pattern", "x-odh-plugin"} == {"get", "delete"}
    get = shelf["get"]
    assert get["summary"] == "Shelf items."
    assert "Items of a shelf." in get["description"]
    assert "Read one item, or list the shelf." in get["description"]
    assert "security" not in get  # the document's default: a bearer token
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Envelope"}
    delete = shelf["delete"]
    assert delete["x-odh-requires"] == ["admin"] and "403" in delete["responses"]
    assert "Administrators only." in delete["description"]
    ping = toy_doc["paths"]["/api/toy/ping"]
    assert ping["get"]["security"] == [{}] and ping["get"]["x-odh-anonymous"] is True
    assert "401" not in ping["get"]["responses"]
    assert ping["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "type": "object", "required": ["n"]}
    assert ping["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "required"] == ["pong"]


def test_websocket_routes_are_marked(toy_doc):
    op = toy_doc["paths"]["/wss/toy/{cluster}/feed"]["get"]
    assert op["x-websocket"] is True and "101" in op["responses"]
    assert "200" not in op["responses"]
    assert handler_methods(Feed) == ["get"]


def test_tornado_default_methods_are_not_operations():
    assert handler_methods(Thing) == ["put"]
    assert handler_methods(Ping) == ["get", "post"]


@pytest.mark.parametrize("pattern,expected", [
    (r"/api/k8s/(.*)", [["/api/k8s/", 0]]),
    (r"/_mf/([^/]+)(/.*)?", [["/_mf/", 0, "/", 1], ["/_mf/", 0]]),
    (r"/api/service/model\-serving(/.*)?",
     [["/api/service/model-serving/", 0], ["/api/service/model-serving"]]),
    (r"/api/objects/(?!(?:view|upload)(?:/|$))([^/]+)(?:/(.+))?/?",
     [["/api/objects/", 0, "/", 1], ["/api/objects/", 0]]),
    (r"/", [["/"]]),
])
def test_path_variants(pattern, expected):
    shapes = [[p if isinstance(p, str) else p.index for p in v] for v in path_variants(pattern)]
    assert shapes == expected


def test_a_lookahead_stays_with_the_parameter_it_guards():
    variant = path_variants(r"/api/objects/(?!(?:view|upload)(?:/|$))([^/]+)")[0]
    assert variant[1].pattern == "^(?!(?:view|upload)(?:/|$))(?:[^/]+)$"


# -- served -----------------------------------------------------------------------------------
@pytest.fixture
def odh_extra_plugins(odh_extra_plugins):
    return [*odh_extra_plugins, ("toy-api", ToyApi)]


async def test_the_document_is_served_to_callers_with_an_identity(odh_server):
    resp = await odh_server.fetch("/api/openapi.json")
    assert resp.status == 401
    resp = await odh_server.fetch("/api/openapi.json", token="t-alice")
    assert resp.status == 200
    doc = resp.json()
    validate(doc)
    assert "/api/toy/ping" in doc["paths"] and "/api/openapi.json" in doc["paths"]


async def test_the_page_renders_the_document_without_inline_script(odh_server):
    page = await odh_server.fetch("/api/openapi")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<script src="openapi.js">' in page.text and "<script>" not in page.text
    script = await odh_server.fetch("/api/openapi.js")
    assert script.status == 200 and 'fetch("openapi.json"' in script.text
