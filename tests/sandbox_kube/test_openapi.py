"""/openapi/v2 and /openapi/v3 as documents (kubectl's use of them is in test_kubectl.py)."""
from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

from kubernetes import client

from odh_sandbox.kube.openapi_pb import PROTOBUF_V2_ACCEPT, PROTOBUF_V2_CT
from odh_sandbox.kube.protobuf import fields


def _get(kube: Any, path: str, accept: str = "application/json") -> tuple[str, bytes]:
    req = urllib.request.Request(kube.http_url + path, headers={
        "Authorization": f"Bearer {kube.token('alice')}", "Accept": accept})
    with urllib.request.urlopen(req) as r:
        return r.headers["Content-Type"], r.read()


def test_v3_documents_follow_crds(kube: Any, api_client: Any) -> None:
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    ext = client.ApiextensionsV1Api(api_client("admin"))

    def crd(desc: str) -> dict[str, Any]:
        return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": f"things.{group}"},
                "spec": {"group": group, "scope": "Namespaced",
                         "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                         "versions": [{"name": "v1", "served": True, "storage": True,
                                       "schema": {"openAPIV3Schema": {
                                           "type": "object", "description": desc}}}]}}
    ext.create_custom_resource_definition(crd("first"))
    try:
        index = json.loads(_get(kube, "/openapi/v3")[1])["paths"]
        url = index[f"apis/{group}/v1"]["serverRelativeURL"]
        doc = json.loads(_get(kube, url)[1])
        name = ".".join(reversed(group.split("."))) + ".v1.Thing"
        schema = doc["components"]["schemas"][name]
        assert schema["description"] == "first"
        assert schema["x-kubernetes-group-version-kind"] == [
            {"group": group, "version": "v1", "kind": "Thing"}]
        patch = doc["paths"][f"/apis/{group}/v1/namespaces/{{namespace}}/things/{{name}}"][
            "patch"]
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
        assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
        # A changed CRD is a new document under a new hash.
        live = ext.read_custom_resource_definition(f"things.{group}")
        live.spec.versions[0].schema.open_apiv3_schema.description = "second"
        ext.replace_custom_resource_definition(f"things.{group}", live)
        index = json.loads(_get(kube, "/openapi/v3")[1])["paths"]
        assert index[f"apis/{group}/v1"]["serverRelativeURL"] != url
        doc = json.loads(_get(kube, index[f"apis/{group}/v1"]["serverRelativeURL"])[1])
        assert doc["components"]["schemas"][name]["description"] == "second"
    finally:
        ext.delete_custom_resource_definition(f"things.{group}")
    assert f"apis/{group}/v1" not in json.loads(_get(kube, "/openapi/v3")[1])["paths"]


def test_v2_in_json_and_gnostic_protobuf(kube: Any) -> None:
    ctype, body = _get(kube, "/openapi/v2")
    doc = json.loads(body)
    assert ctype == "application/json" and doc["swagger"] == "2.0"
    cm = doc["definitions"]["io.k8s.api.core.v1.ConfigMap"]
    assert cm["x-kubernetes-group-version-kind"] == [
        {"group": "", "version": "v1", "kind": "ConfigMap"}]
    ctype, pb = _get(kube, "/openapi/v2", PROTOBUF_V2_ACCEPT[0])
    assert ctype == PROTOBUF_V2_CT
    top = {num: val for num, _, val in fields(pb)}
    assert top[1] == b"2.0"
    named = {bytes(dict((n, v) for n, _, v in fields(entry))[1]): entry
             for _, _, entry in fields(top[9])}  # Definitions{NamedSchema}
    assert len(named) == len(doc["definitions"])
    schema = dict((n, v) for n, _, v in fields(named[b"io.k8s.api.core.v1.ConfigMap"]))[2]
    exts = [dict((n, v) for n, _, v in fields(e)) for n, _, e in fields(schema) if n == 31]
    gvk = next(e for e in exts if e[1] == b"x-kubernetes-group-version-kind")
    assert json.loads(dict((n, v) for n, _, v in fields(gvk[2]))[2]) == \
        cm["x-kubernetes-group-version-kind"]


def test_every_built_in_kind_has_a_schema_and_the_generators_a_protobuf_table() -> None:
    """The checked-in tables cover what the sandbox serves (regenerate them with the scripts
    in odh_sandbox/kube/schemas when a kind is added)."""
    from odh_sandbox.kube import protobuf
    from odh_sandbox.kube.openapi import _builtin_by_gvk
    from odh_sandbox.kube.resources import builtin_types
    from odh_sandbox.kube.schemas.gen_protobuf_table import ROOTS

    served = {(rt.group, v, rt.kind) for rt in builtin_types() for v in rt.versions}
    assert served - set(_builtin_by_gvk()) == set()
    tbl = protobuf.table()
    assert {f"{av}/{k}" for av, kinds in ROOTS.items() for k in kinds} == set(tbl.kinds)
    for msg, fields_ in tbl.by_number.items():
        for _, label, typ, _ in fields_.values():
            for t in (typ.split(":") if label == "m" else [typ]):
                assert t in tbl.by_number or t in ("string", "bytes", "bool", "int32",
                                                   "int64", "double", "float"), (msg, t)
