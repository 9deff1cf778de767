"""/openapi/v2 and /openapi/v3: the schemas of every kind the sandbox serves.

Built-in kinds take kube-apiserver's own definitions (schemas/openapi_definitions.json, made
by schemas/gen_openapi_table.py); each CRD adds its served versions' `openAPIV3Schema`, named
as kube-apiserver names them (`io.ray.v1.RayCluster` for ray.io/v1 RayCluster). kubectl reads
these to validate (`apply` asks the v3 document whether PATCH takes `fieldValidation`, then
lets the server validate), to build strategic merge patches and for `explain`.
"""
from __future__ import annotations

import copy
import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator

from . import openapi_pb
from .resources import Registry, ResourceType

V2_REF = "#/definitions/"
V3_REF = "#/components/schemas/"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")


@lru_cache(maxsize=1)
def builtin_definitions() -> dict[str, Any]:
    """Definition name -> schema, as kube-apiserver publishes them (read once, never mutated:
    callers copy what they change)."""
    text = resources.files(__package__).joinpath("schemas/openapi_definitions.json").read_text()
    return json.loads(text)["definitions"]


@lru_cache(maxsize=1)
def _builtin_by_gvk() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, d in builtin_definitions().items():
        for gvk in d.get("x-kubernetes-group-version-kind") or []:
            out.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return out


def definition_name(group: str, version: str, kind: str) -> str:
    """kube-apiserver's name for a CRD kind's definition: the group's labels reversed."""
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def refs(node: Any, prefix: str = V2_REF) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            yield ref[len(prefix):]
        for v in node.values():
            yield from refs(v, prefix)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v, prefix)


def crd_version_schema(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("name") == version:
            schema = (v.get("schema") or {}).get("openAPIV3Schema")
            return schema if isinstance(schema, dict) else None
    return None


def _crd_definition(rt: ResourceType, version: str, schema: dict[str, Any] | None
                    ) -> dict[str, Any]:
    d = copy.deepcopy(schema) if schema else {"type": "object",
                                              "x-kubernetes-preserve-unknown-fields": True}
    props = d.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string", "description": "APIVersion defines the "
                                    "versioned schema of this representation of an object."})
    props.setdefault("kind", {"type": "string", "description": "Kind is a string value "
                              "representing the REST resource this object represents."})
    props["metadata"] = {"$ref": V2_REF + OBJECT_META,
                         "description": "Standard object's metadata."}
    d["x-kubernetes-group-version-kind"] = [{"group": rt.group, "version": version,
                                             "kind": rt.kind}]
    return d


def _closure(names: list[str], defs: dict[str, Any]) -> dict[str, Any]:
    keep: dict[str, Any] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in keep or name not in defs:
            continue
        keep[name] = defs[name]
        todo.extend(refs(defs[name]))
    return {k: keep[k] for k in sorted(keep)}


def _to_v3(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (V3_REF + v[len(V2_REF):] if k == "$ref" and isinstance(v, str)
                    and v.startswith(V2_REF) else _to_v3(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_v3(v) for v in node]
    return node


# -- paths -------------------------------------------------------------------------------
def _param(name: str, where: str, desc: str, typ: str = "string",
           required: bool = False) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": where, "description": desc, "type": typ,
                         "uniqueItems": True}
    if required:
        p["required"] = True
    return p


_DRY_RUN = _param("dryRun", "query", "When present, indicates that modifications should not "
                  "be persisted. Valid values are: - All: all dry run stages will be processed")
_FIELD_MANAGER = _param("fieldManager", "query", "fieldManager is a name associated with the "
                        "actor or entity that is making these changes.")
_FIELD_VALIDATION = _param(
    "fieldValidation", "query", "fieldValidation instructs the server on how to handle objects "
    "in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: "
    "- Ignore - Warn (the default) - Strict: fail the request with a BadRequest error if any "
    "unknown fields would be dropped from the object, or if any duplicate fields are present.")
_FORCE = _param("force", "query", "Force is going to \"force\" Apply requests. It means user "
                "will re-acquire conflicting fields owned by other people.", "boolean")


def _operation(rt: ResourceType, version: str, action: str, verb: str, ref: str,
               params: list[dict[str, Any]], body: bool, codes: tuple[str, ...]
               ) -> dict[str, Any]:
    group_part = "".join(p.capitalize() for p in (rt.group or "core").split(".")[:1])
    op: dict[str, Any] = {
        "description": f"{action} {rt.kind}",
        "operationId": f"{verb}{group_part}{version.capitalize()}"
                       f"{'Namespaced' if rt.namespaced else ''}{rt.kind}",
        "parameters": list(params), "consumes": ["*/*"],
        "produces": ["application/json", "application/yaml",
                     "application/vnd.kubernetes.protobuf"],
        "responses": {c: {"description": "OK", "schema": {"$ref": V2_REF + ref}}
                      for c in codes},
        "tags": [f"{rt.group or 'core'}_{version}"],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": version,
                                            "kind": rt.kind},
    }
    if body:
        op["parameters"].insert(0, {"in": "body", "name": "body", "required": True,
                                    "schema": {"$ref": V2_REF + ref}})
    if verb == "patch":
        # kubectl builds a strategic merge patch only where PATCH consumes one: never for
        # custom resources.
        op["consumes"] = ["application/json-patch+json", "application/merge-patch+json",
                          *([] if rt.custom else ["application/strategic-merge-patch+json"]),
                          "application/apply-patch+yaml"]
        op["parameters"][0] = {"in": "body", "name": "body", "required": True,
                               "schema": {"type": "object"}}
    return op


def _paths(rt: ResourceType, version: str, ref: str) -> dict[str, Any]:
    prefix = f"/apis/{rt.group}/{version}" if rt.group else f"/api/{version}"
    ns = [_param("namespace", "path", "object name and auth scope", required=True)] \
        if rt.namespaced else []
    coll = prefix + ("/namespaces/{namespace}" if rt.namespaced else "") + f"/{rt.plural}"
    name = [_param("name", "path", f"name of the {rt.kind}", required=True)]
    write = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
    out: dict[str, Any] = {}
    if rt.virtual:
        out[coll] = {"post": _operation(rt, version, "post", "create", ref, write, True,
                                        ("200", "201", "202")), "parameters": ns}
        return out
    out[coll] = {"get": _operation(rt, version, "list", "list", ref, [], False, ("200",)),
                 "post": _operation(rt, version, "post", "create", ref, write, True,
                                    ("200", "201", "202")),
                 "parameters": ns}
    out[coll + "/{name}"] = {
        "get": _operation(rt, version, "get", "read", ref, [], False, ("200",)),
        "put": _operation(rt, version, "put", "replace", ref, write, True, ("200", "201")),
        "patch": _operation(rt, version, "patch", "patch", ref, [*write, _FORCE], True,
                            ("200", "201")),
        "delete": _operation(rt, version, "delete", "delete", STATUS, [_DRY_RUN], False,
                             ("200", "202")),
        "parameters": name + ns}
    return out


class OpenApi:
    """The documents, built from the registry and the stored CRDs. Building one takes tens
    of milliseconds (the v2 protobuf hundreds): the server builds them from a snapshot in a
    thread and keeps the bytes until what they are made of changes. A group-version's key
    is its types and their CRDs' resourceVersions, which is also the `hash` the v3 index
    hands out."""

    MAX_CACHED = 256

    def __init__(self, registry: Registry, crds: Any) -> None:
        self.registry = registry
        self._crds = crds  # () -> iterable of stored CRD objects
        self._cache: dict[tuple[str, ...], bytes] = {}

    def _crd_versions(self) -> dict[tuple[str, str], str]:
        """(group, plural) -> resourceVersion of each stored CRD."""
        out = {}
        for crd in self._crds():
            spec = crd.get("spec") or {}
            out[(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))] = \
                crd["metadata"].get("resourceVersion", "")
        return out

    def _gv_key(self, group: str, version: str,
                crds: dict[tuple[str, str], str] | None = None) -> str:
        crds = self._crd_versions() if crds is None else crds
        parts = []
        for rt in sorted(self.registry.in_group_version(group, version), key=lambda r: r.plural):
            parts.append(f"{rt.plural}/{rt.kind}/{','.join(rt.versions)}/{rt.namespaced}/"
                         f"{rt.virtual}/{crds.get(rt.key, '') if rt.custom else ''}")
        return hashlib.sha512("|".join(parts).encode()).hexdigest()[:128].upper()

    def v2_key(self) -> str:
        crds = self._crd_versions()
        keys = [self._gv_key(g, v, crds) for g, vs in
                sorted(self.registry.group_versions().items()) for v in vs]
        return hashlib.sha512("|".join(keys).encode()).hexdigest()[:128].upper()

    def crd_for(self, rt: ResourceType) -> dict[str, Any] | None:
        for crd in self._crds():
            spec = crd.get("spec") or {}
            if spec.get("group") == rt.group and \
                    (spec.get("names") or {}).get("plural") == rt.plural:
                return crd
        return None

    def definition(self, rt: ResourceType, version: str) -> tuple[str, dict[str, Any]]:
        """(name, definitions that name needs) for a served kind in a version."""
        if rt.custom:
            crd = self.crd_for(rt)
            name = definition_name(rt.group, version, rt.kind)
            defs = dict(builtin_definitions())
            defs[name] = _crd_definition(rt, version, crd_version_schema(crd or {}, version))
            return name, defs
        name = _builtin_by_gvk().get((rt.group, version, rt.kind), "")
        return name, builtin_definitions()

    def _group_version(self, group: str, version: str) -> tuple[dict, dict]:
        paths: dict[str, Any] = {}
        defs: dict[str, Any] = {}
        names: list[str] = [STATUS]
        for rt in sorted(self.registry.in_group_version(group, version), key=lambda r: r.plural):
            name, all_defs = self.definition(rt, version)
            if not name:
                continue
            if rt.custom:
                defs[name] = all_defs[name]
            names.append(name)
            paths.update(_paths(rt, version, name))
        return paths, _closure(names, {**builtin_definitions(), **defs})

    def v2(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        defs: dict[str, Any] = {}
        for group, versions in sorted(self.registry.group_versions().items()):
            for v in versions:
                p, d = self._group_version(group, v)
                paths.update(p)
                defs.update(d)
        return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
                "paths": dict(sorted(paths.items())),
                "definitions": dict(sorted(defs.items())),
                "security": [{"BearerToken": []}],
                "securityDefinitions": {"BearerToken": {
                    "description": "Bearer Token authentication", "in": "header",
                    "name": "authorization", "type": "apiKey"}}}

    @staticmethod
    def v3_path(group: str, version: str) -> str:
        return f"apis/{group}/{version}" if group else f"api/{version}"

    def v3_index(self) -> dict[str, Any]:
        out = {}
        crds = self._crd_versions()
        for group, versions in sorted(self.registry.group_versions().items()):
            for v in versions:
                path = self.v3_path(group, v)
                out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash="
                                                  f"{self._gv_key(group, v, crds)}"}
        return {"paths": out}

    def document_key(self, parts: list[str], protobuf_v2: bool) -> tuple[str, ...] | None:
        """The cache key of /openapi/<parts> (its inputs' hash); None: no such document."""
        if parts == ["v3"]:
            return ("v3index",)
        if parts == ["v2"]:
            return ("v2pb" if protobuf_v2 else "v2json", self.v2_key())
        gv = _group_version(parts[1:]) if parts[:1] == ["v3"] else None
        if gv is None or not self.registry.serves(*gv):
            return None
        return ("v3json", *gv, self._gv_key(*gv))

    def serialize(self, key: tuple[str, ...]) -> bytes:
        """The document a key names, serialized (JSON, or gnostic protobuf for v2)."""
        if key[0] == "v3index":
            doc: Any = self.v3_index()
        elif key[0] in ("v2pb", "v2json"):
            doc = self.v2()
            if key[0] == "v2pb":
                return openapi_pb.document(doc)
        else:
            doc = self._build_v3(key[1], key[2])
        return json.dumps(doc, separators=(",", ":")).encode()

    def snapshot(self) -> OpenApi:
        """A copy reading a frozen registry and CRD list: safe to build from off the loop
        while the server keeps writing."""
        crds = list(self._crds())
        return OpenApi(Registry(dict(self.registry.types)), lambda: crds)

    def remember(self, key: tuple[str, ...], body: bytes) -> None:
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[key] = body

    def recall(self, key: tuple[str, ...]) -> bytes | None:
        return self._cache.get(key)

    def _build_v3(self, group: str, version: str) -> dict[str, Any]:
        paths, defs = self._group_version(group, version)
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
                "paths": {p: _path_v3(item) for p, item in sorted(paths.items())},
                "components": {"schemas": _to_v3(defs), "securitySchemes": {
                    "BearerToken": {"type": "apiKey", "description": "Bearer Token "
                                    "authentication", "name": "authorization",
                                    "in": "header"}}}}


def _group_version(parts: list[str]) -> tuple[str, str] | None:
    """(group, version) of a v3 document path: api/v1, apis/<group>/<version>."""
    if parts[:1] == ["api"] and len(parts) == 2:
        return "", parts[1]
    if parts[:1] == ["apis"] and len(parts) == 3:
        return parts[1], parts[2]
    return None


def _path_v3(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for method, op in item.items():
        if method == "parameters":
            out["parameters"] = [_param_v3(p) for p in op]
            continue
        o = {k: v for k, v in op.items() if k not in ("consumes", "produces", "parameters",
                                                      "responses")}
        params = []
        for p in op["parameters"]:
            if p.get("in") == "body":
                o["requestBody"] = {"content": {ct: {"schema": _to_v3(p["schema"])}
                                                for ct in op["consumes"]}, "required": True}
            else:
                params.append(_param_v3(p))
        o["parameters"] = params
        o["responses"] = {code: {"description": r["description"], "content": {
            ct: {"schema": _to_v3(r["schema"])} for ct in op["produces"]}}
            for code, r in op["responses"].items()}
        out[method] = o
    return out


def _param_v3(p: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in p.items() if k not in ("type", "uniqueItems")}
    out["schema"] = {"type": p.get("type", "string"), "uniqueItems": True}
    return out
