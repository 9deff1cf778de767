"""The OpenAPI 3.1 document of a built app, derived from the routes its enabled plugins register.

Most of it is derived, so a route is documented without extra work:
- paths and path parameters from the route's regex: named groups name themselves, unnamed ones
  take `Route.params`, else the handler method's argument names, else `param1`, `param2`...;
  each parameter carries the group's own regex as its `pattern`; an optional group with a
  parameter in it gives a second path (with and without it);
- methods from the get/post/put/patch/delete/head/options the handler implements (Tornado's
  defaults excluded); WebSocket handlers are a GET answering 101, marked `x-websocket: true`;
- summary and description from `Route.description`, the handler class docstring and the
  method's docstring;
- security from `@allow_anonymous` (no credentials needed) and `@requires(...)` (listed in
  `x-odh-requires`, and 403 documented);
- responses: the core's error body for every 4xx/5xx (for pass-through proxies, the upstream's
  own body may come back instead); the `{success:true, data, timestamp}` envelope for 2xx when
  `Route.envelope` is set.
What cannot be derived a route declares: `Route.request_body`, `Route.responses` or an
`openapi` dict on the handler method (merged into the operation object last).
"""
from __future__ import annotations

import copy
import functools
import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Protocol

import tornado.websocket

from .plugin import Route
from .web import allowed_methods, is_anonymous

if TYPE_CHECKING:  # pragma: no cover
    from .config import Settings
    from .loader import PluginInfo


class App(Protocol):
    """What the document needs of the app. A protocol, not an import of `app`: the app
    imports this module (through the builtin plugins), so importing it back made a circle."""
    routes: list[tuple[str, Route]]
    plugins: dict[str, PluginInfo]
    settings: Settings

    def enabled_plugins(self) -> list[PluginInfo]: ...


@functools.cache  # reads (and parses) the distribution's METADATA file
def core_version() -> str:
    """The installed odh-core version (what built-in plugins and the document report)."""
    try:
        from importlib.metadata import version

        return version("odh-core")
    except Exception:  # pragma: no cover
        return "0"

OPENAPI_VERSION = "3.1.0"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
BODY_METHODS = ("post", "put", "patch")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The core's error body (a superset of the old backends' `{error, message}`).",
    "required": ["success", "error", "message", "statusCode", "timestamp", "requestId"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string", "description": "Reason phrase or error class."},
        "message": {"type": "string", "description": "What went wrong, for a person."},
        "statusCode": {"type": "integer", "minimum": 400, "maximum": 599},
        "timestamp": {"type": "string", "description": "ISO 8601, UTC."},
        "requestId": {"type": "string", "description": "Also in the X-Request-Id header."},
    },
}
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The envelope of routes new in odh-core.",
    "required": ["success", "data", "timestamp"],
    "properties": {
        "success": {"const": True},
        "data": {"description": "The route's payload."},
        "timestamp": {"type": "string", "description": "ISO 8601, UTC."},
    },
}


# -- the route's regex -> path templates ------------------------------------------------------
@dataclass
class _Node:
    """A piece of a route pattern: literal text, or a group with its children."""

    kind: str  # "lit" | "capture" | "group" | "look" | "other"
    text: str = ""  # literal text, or the group's inner source
    name: str | None = None
    children: list["_Node"] = field(default_factory=list)
    optional: bool = False


def _parse(src: str, i: int = 0, depth: int = 0) -> tuple[list[_Node], int]:
    nodes: list[_Node] = []
    while i < len(src):
        c = src[i]
        if c == ")":
            if depth:
                return nodes, i
            raise ValueError(f"unbalanced ')' in {src!r}")
        if c == "(":
            kind, name = "capture", None
            if src.startswith("(?P<", i):
                close = src.index(">", i)
                name, start = src[i + 4:close], close + 1
            elif src.startswith("(?:", i):
                kind, start = "group", i + 3
            elif src.startswith(("(?!", "(?="), i):
                kind, start = "look", i + 3
            elif src.startswith(("(?<=", "(?<!"), i):
                kind, start = "look", i + 4
            else:
                start = i + 1
            children, end = _parse(src, start, depth + 1)
            node = _Node(kind, src[i:end + 1] if kind == "look" else src[start:end], name,
                         children)
            i = end + 1
        elif c == "\\":
            nxt = src[i + 1]
            node = _Node("lit", nxt) if not nxt.isalnum() else _Node("other", src[i:i + 2])
            i += 2
        elif c == "[":
            end = i + 1
            if src.startswith("^", end):
                end += 1
            if src.startswith("]", end):
                end += 1
            end = src.index("]", end)
            node = _Node("other", src[i:end + 1])
            i = end + 1
        elif c in ".":
            node = _Node("other", c)
            i += 1
        elif c in "^$":
            i += 1
            continue
        elif c == "|":
            if not depth:
                raise ValueError(f"top-level alternation in {src!r}")
            node = _Node("other", c)
            i += 1
        else:
            node = _Node("lit", c)
            i += 1
        # quantifier
        if i < len(src) and src[i] in "?*+{":
            q = src[i]
            if q == "{":
                qend = src.index("}", i)
                quant = src[i:qend + 1]
                i = qend + 1
            else:
                quant = q
                i += 1
            if i < len(src) and src[i] == "?":  # lazy
                i += 1
            if quant in ("?", "*", "{0,1}"):
                node.optional = True
            if node.kind in ("lit", "other") and quant not in ("?",):
                node = _Node("other", node.text + quant, optional=node.optional)
        nodes.append(node)
    if depth:
        raise ValueError(f"unbalanced '(' in {src!r}")
    return nodes, i


@dataclass
class PathParam:
    index: int  # position among all capturing groups (what Tornado passes positionally)
    name: str | None
    pattern: str


@dataclass
class PathVariant:
    template: list[Any]  # str pieces and PathParam
    optional_dropped: bool = False


def _captures(nodes: list[_Node]) -> Iterator[_Node]:
    for n in nodes:
        if n.kind == "capture":
            yield n
        yield from _captures(n.children if n.kind != "capture" else n.children)


def _variants(nodes: list[_Node], counter: list[int]) -> list[list[Any]]:
    """Every path shape: an optional piece holding a parameter is tried present and absent;
    an optional piece without one (a trailing `/?`) is left out."""
    out: list[list[Any]] = [[]]
    lookahead = ""
    for n in nodes:
        if n.kind == "look":
            lookahead += n.text
            continue
        if n.kind == "lit":
            pieces_options = [[n.text]] if not n.optional else [[]]
        elif n.kind == "other":
            pieces_options = [[] if n.optional else [_Raw(n.text)]]
        elif n.kind == "capture":
            idx = counter[0]
            counter[0] += 1
            for _ in _captures(n.children):
                counter[0] += 1
            inner = n.text
            lead = ""
            if inner.startswith("/") and not inner.startswith("/?"):
                lead, inner = "/", inner[1:]
            param = PathParam(idx, n.name, f"^{lookahead}(?:{inner})$")
            lookahead = ""
            present = [lead, param] if lead else [param]
            pieces_options = [present, []] if n.optional else [present]
        elif any(c.kind == "other" and c.text == "|" for c in n.children):
            for _ in _captures(n.children):
                counter[0] += 1  # alternatives: kept as regex text, not expanded
            pieces_options = [[]] if n.optional else [[_Raw(f"(?:{n.text})")]]
        else:  # non-capturing group
            before = counter[0]
            inner_variants = _variants(n.children, counter)
            has_param = counter[0] > before
            if n.optional:
                pieces_options = [*inner_variants, []] if has_param else [[]]
            else:
                pieces_options = inner_variants
        out = [prefix + opt for prefix in out for opt in pieces_options]
    return out


@dataclass
class _Raw:
    """Regex syntax outside any group: kept verbatim (a route should use a group instead)."""

    text: str


def path_variants(pattern: str) -> list[list[Any]]:
    """The path shapes a Tornado route pattern matches, as lists of text and PathParam."""
    nodes, _ = _parse(pattern)
    counter = [0]
    seen: set[str] = set()
    result = []
    for variant in _variants(nodes, counter):
        merged: list[Any] = []
        for piece in variant:
            if isinstance(piece, str) and merged and isinstance(merged[-1], str):
                merged[-1] += piece
            else:
                merged.append(piece)
        key = repr([p if isinstance(p, str) else getattr(p, "index", p) for p in merged])
        if key not in seen:
            seen.add(key)
            result.append(merged)
    return result


# -- handler introspection ---------------------------------------------------------------------
def handler_methods(handler: type) -> list[str]:
    """The HTTP methods a handler class serves (what a 405's `Allow` lists), lower-case."""
    return [m.lower() for m in allowed_methods(handler)]


def is_websocket(handler: type) -> bool:
    return issubclass(handler, tornado.websocket.WebSocketHandler)


def is_passthrough(handler: type) -> bool:
    from .proxy import ProxyHandler

    return issubclass(handler, ProxyHandler)


def _arg_names(fn: Any) -> list[str]:
    try:
        sig = inspect.signature(inspect.unwrap(fn))
    except (TypeError, ValueError):
        return []
    return [p.name for p in list(sig.parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _own_doc(obj: Any, base: Any) -> str:
    """A docstring the object itself has (not one inherited from the core's base classes)."""
    doc = getattr(obj, "__doc__", None)
    if not doc or doc == getattr(base, "__doc__", None):
        return ""
    return inspect.cleandoc(doc)


def _class_doc(handler: type) -> str:
    doc = handler.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else ""


def _first_sentence(text: str) -> str:
    line = " ".join(text.strip().split("\n\n")[0].split())
    m = re.match(r"(.+?[.!?])(\s|$)", line)
    out = m.group(1) if m else line
    return out if len(out) <= 120 else out[:117].rstrip() + "..."


def _is_schema(value: Any) -> bool:
    return isinstance(value, dict) and "content" not in value and not (
        "description" in value and len(value) == 1)


def _response(value: Any, default_desc: str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"description": value}
    if _is_schema(value):
        return {"description": value.get("description", default_desc),
                "content": {"application/json": {"schema": value}}}
    return {"description": default_desc, **value}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "root"


# -- the document ------------------------------------------------------------------------------
def build_document(app: "App") -> dict[str, Any]:
    """The OpenAPI 3.1 document for every route of the app's enabled plugins."""
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, str] = {}
    op_ids: set[str] = set()
    for plugin_name, route in app.routes:
        info = app.plugins.get(plugin_name)
        tag = route.tag or plugin_name
        if tag not in tags:
            cls = getattr(info, "cls", None)
            tags[tag] = _first_sentence(_class_doc(cls)) if cls is not None else ""
        for variant in path_variants(route.pattern):
            path, params = _template(route, variant)
            item = paths.setdefault(path, {})
            item.setdefault("x-odh-pattern", route.pattern)
            item.setdefault("x-odh-plugin", plugin_name)
            for method in handler_methods(route.handler):
                if method in item:
                    continue  # an earlier route (lower order) answers this path and method
                op = _operation(app, plugin_name, route, method, params, tag)
                base_id = f"{method}_{_slug(plugin_name)}_{_slug(path)}"
                op_id, n = base_id, 2
                while op_id in op_ids:
                    op_id, n = f"{base_id}_{n}", n + 1
                op_ids.add(op_id)
                op["operationId"] = op_id
                item[method] = op
    token_headers = list(app.settings.auth.token_headers)
    schemes: dict[str, Any] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "The user's OpenShift/Kubernetes token, validated by the cluster."}}
    for header in token_headers:
        if header.lower() != "authorization":
            schemes[_slug(header)] = {"type": "apiKey", "in": "header", "name": header,
                                      "description": "The token as an auth proxy forwards it."}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "odh-core", "version": core_version(),
            "description": "Backend-for-frontend for Open Data Hub. Every route is contributed "
                           "by a plugin (tag = plugin name). Enabled plugins: "
                           + ", ".join(sorted(i.name for i in app.enabled_plugins()
                                              if not i.builtin)) + ".",
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t, **({"description": d} if d else {})} for t, d in tags.items()],
        "security": [{name: []} for name in schemes],
        "paths": paths,
        "components": {
            "schemas": {"Error": copy.deepcopy(ERROR_SCHEMA),
                        "Envelope": copy.deepcopy(ENVELOPE_SCHEMA)},
            "securitySchemes": schemes,
        },
    }


def _template(route: Route, variant: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    method_args: list[str] = []
    for m in handler_methods(route.handler):
        fn = getattr(route.handler, "open" if is_websocket(route.handler) else m)
        method_args = _arg_names(fn)
        if method_args:
            break
    parts: list[str] = []
    params: list[dict[str, Any]] = []
    for piece in variant:
        if isinstance(piece, str):
            parts.append(piece)
        elif isinstance(piece, _Raw):
            parts.append(piece.text)
        else:
            name = piece.name or (route.params[piece.index] if piece.index < len(route.params)
                                  else method_args[piece.index]
                                  if piece.index < len(method_args) else f"param{piece.index + 1}")
            parts.append("{" + name + "}")
            params.append({"name": name, "in": "path", "required": True,
                           "schema": {"type": "string", "pattern": piece.pattern}})
    return "".join(parts) or "/", params


def _pick(mapping: dict[Any, Any], method: str) -> dict[Any, Any]:
    """`{status: ...}` applies to every method; `{"get": {status: ...}}` to one."""
    if any(isinstance(k, str) and k.lower() in HTTP_METHODS for k in mapping):
        return dict(mapping.get(method, {}))
    return dict(mapping)


def _operation(app: "App", plugin_name: str, route: Route, method: str,
               params: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    from .web import BaseHandler, BaseWebSocketHandler

    handler = route.handler
    ws = is_websocket(handler)
    fn = getattr(handler, method)
    base = BaseWebSocketHandler if ws else BaseHandler
    method_doc = _own_doc(fn, getattr(base, method, None))
    texts = [t for t in (route.description.strip(), _class_doc(handler), method_doc) if t]
    dedup: list[str] = []
    for t in texts:
        if t not in dedup:
            dedup.append(t)
    op: dict[str, Any] = {"tags": [tag]}
    if dedup:
        op["summary"] = _first_sentence(dedup[0])
        op["description"] = "\n\n".join(dedup)
    if params:
        op["parameters"] = copy.deepcopy(params)
    requires = getattr(fn, "__odh_requires__", None)
    anonymous = is_anonymous(handler, method)
    if anonymous:
        op["security"] = [{}]  # no credentials needed (a token is still read for the log)
        op["x-odh-anonymous"] = True
    if requires:
        op["x-odh-requires"] = [requires[0]]
        if requires[0] == "admin":
            op["description"] = (op.get("description", "") + "\n\nAdministrators only.").strip()
    responses: dict[str, Any] = {}
    no_body = method in ("head", "options")
    if ws:
        op["x-websocket"] = True
        responses["101"] = {"description": "Switching Protocols: the WebSocket is open."}
    declared = {str(k): v for k, v in _pick(route.responses, method).items()}
    if not ws and not any(k.startswith("2") for k in declared):
        if no_body:
            responses["200"] = {"description": "Success (headers only)."}
        elif route.envelope:
            responses["200"] = {"description": "Success.", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Envelope"}}}}
        else:
            responses["200"] = {"description": "Success; the body is the route's own "
                                               "(see the description)."}
    for status, value in declared.items():
        responses[status] = _response(value, "Success." if status.startswith("2") else "Error.")
    err_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if is_passthrough(handler):
        err = {"description": "The core's error body (`Error`), or the upstream's own "
                              "response as it came (pass-through)."}
    else:
        err = {"description": "Error (the core's error body).", **(
            {} if no_body else {"content": err_content})}
    if not anonymous:
        responses.setdefault("401", {**copy.deepcopy(err),
                                     "description": "No valid credentials."})
    if requires:
        responses.setdefault("403", {**copy.deepcopy(err), "description": "Forbidden."})
    responses.setdefault("4XX", copy.deepcopy(err))
    responses.setdefault("5XX", copy.deepcopy(err))
    op["responses"] = responses
    if method in BODY_METHODS and not ws:
        body = route.request_body
        if body is not None and any(k in HTTP_METHODS for k in body):
            body = body.get(method)
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": body}}} if _is_schema(body) and "content" not in body else body
        elif is_passthrough(handler):
            op["requestBody"] = {"required": False, "description": "Passed through untouched.",
                                 "content": {"*/*": {"schema": {}}}}
        else:
            op["requestBody"] = {"required": False, "description": "Not declared by the route.",
                                 "content": {"application/json": {"schema": {}}}}
    extra = getattr(fn, "openapi", None) or getattr(inspect.unwrap(fn), "openapi", None)
    if isinstance(extra, dict):
        _merge(op, copy.deepcopy(extra))
    return op


def _merge(op: dict[str, Any], extra: dict[str, Any]) -> None:
    """A handler's `openapi` dict over the derived operation: parameters are added (same
    name and place: replaced), responses merged per status, anything else replaced."""
    for key, value in extra.items():
        if key == "parameters":
            keep = [p for p in op.get("parameters", [])
                    if (p.get("name"), p.get("in")) not in {(v.get("name"), v.get("in"))
                                                            for v in value}]
            op["parameters"] = keep + list(value)
        elif key == "responses":
            op.setdefault("responses", {}).update({str(k): v for k, v in value.items()})
        else:
            op[key] = value


def document_for(app: "App") -> dict[str, Any]:
    """The app's document, built once (routes are fixed when the app is built)."""
    doc = getattr(app, "_odh_openapi", None)
    if doc is None:
        doc = build_document(app)
        app._odh_openapi = doc  # type: ignore[attr-defined]
    return doc
