"""Field validation and managedFields as pure functions."""
from __future__ import annotations

import pytest

from odh_sandbox.kube import managed
from odh_sandbox.kube.errors import KubeError
from odh_sandbox.kube.openapi import OBJECT_META, V2_REF, builtin_definitions
from odh_sandbox.kube.validation import FieldValidation, validate

SCHEMA = {
    "type": "object",
    "properties": {
        "metadata": {"$ref": V2_REF + OBJECT_META},
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer"},
            "port": {"x-kubernetes-int-or-string": True},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "note": {"type": "string", "nullable": True},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "closed": {"type": "object"},
            "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                         "properties": {"spec": {"type": "object"}}},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}}}}}}}}


def _run(obj: dict, mode: str = "Warn") -> tuple[dict, FieldValidation]:
    defs = dict(builtin_definitions(), **{"com.example.v1.Widget": SCHEMA})
    fv = FieldValidation(mode)
    return validate(obj, "com.example.v1.Widget", defs, True, fv, "Widget", "example.com"), fv


def test_unknown_fields_are_pruned_and_warned() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget",
           "metadata": {"name": "w", "bogus": 1, "labels": {"a": "b"}},
           "spec": {"size": 1, "port": "http", "x": 1, "labels": {"k": "v"},
                    "free": {"anything": {"goes": [1]}}, "closed": {"dropped": True},
                    "note": None, "mode": None,
                    "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                 "spec": {"gone": 1}},
                    "items": [{"name": "i", "extra": 2}]}}
    out, fv = _run(obj)
    assert out == {"apiVersion": "example.com/v1", "kind": "Widget",
                   "metadata": {"name": "w", "labels": {"a": "b"}},
                   "spec": {"size": 1, "port": "http", "labels": {"k": "v"},
                            "free": {"anything": {"goes": [1]}}, "closed": {}, "note": None,
                            "template": {"apiVersion": "v1", "kind": "Pod",
                                         "metadata": {"name": "p"}, "spec": {}},
                            "items": [{"name": "i"}]}}
    assert sorted(fv.warnings) == sorted(f'unknown field "{f}"' for f in (
        "metadata.bogus", "spec.x", "spec.closed.dropped", "spec.template.spec.gone",
        "spec.items[0].extra"))
    assert obj["spec"]["x"] == 1  # the input is not changed


def test_strict_refuses_and_ignore_is_silent() -> None:
    with pytest.raises(KubeError) as e:
        _run({"spec": {"size": 1, "x": 1}}, "Strict")
    assert e.value.code == 400 and 'unknown field "spec.x"' in e.value.body["message"]
    _, fv = _run({"spec": {"size": 1, "x": 1}}, "Ignore")
    assert fv.warnings == []
    with pytest.raises(KubeError):
        FieldValidation.from_query("Loud")


@pytest.mark.parametrize("spec,field,reason", [
    ({"size": "big"}, "spec.size", "FieldValueTypeInvalid"),
    ({"size": True}, "spec.size", "FieldValueTypeInvalid"),
    ({"size": 1, "port": 1.5}, "spec.port", "FieldValueTypeInvalid"),
    ({"size": 1, "mode": "c"}, "spec.mode", "FieldValueNotSupported"),
    ({}, "spec.size", "FieldValueRequired"),
    ({"size": 1, "labels": {"k": 1}}, "spec.labels.k", "FieldValueTypeInvalid"),
])
def test_schema_violations_are_422(spec: dict, field: str, reason: str) -> None:
    with pytest.raises(KubeError) as e:
        _run({"metadata": {"name": "w"}, "spec": spec})
    assert e.value.code == 422
    assert {"field": field, "reason": reason} == {
        k: e.value.body["details"]["causes"][0][k] for k in ("field", "reason")}


def test_field_sets_round_trip_fields_v1() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "d", "labels": {"app": "d"}, "uid": "x"},
           "spec": {"replicas": 2, "template": {"spec": {"containers": [
               {"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}},
           "status": {"replicas": 1}}
    paths = managed.field_set(obj, skip_status=True)
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}',
            "f:image") in paths
    assert not any(p[0] == "f:status" for p in paths)
    assert not any(p[:2] == ("f:metadata", "f:uid") for p in paths)
    assert managed.from_fields_v1(managed.to_fields_v1(paths)) == paths


def test_status_writers_keep_their_fields_across_spec_updates() -> None:
    v1 = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
          "spec": {"replicas": 1}}
    managed.record_update(None, v1, "creator", "apps/v1", skip_status=True)
    v2 = dict(v1, status={"replicas": 1})
    managed.record_update(v1, v2, "controller", "apps/v1", skip_status=False,
                          subresource="status")
    v3 = dict(v2, spec={"replicas": 2})
    managed.record_update(v2, v3, "scaler", "apps/v1", skip_status=True)
    owners = {(e["manager"], e.get("subresource", "")): e["fieldsV1"]
              for e in v3["metadata"]["managedFields"]}
    assert owners == {("controller", "status"): {"f:status": {"f:replicas": {}}},
                      ("scaler", ""): {"f:spec": {"f:replicas": {}}}}
