"""Patch types, server-side apply, selectors and pagination."""
from __future__ import annotations

import json

import pytest
from kubernetes import client

from .conftest import cm


JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def test_merge_json_and_strategic_patches(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, cm("p", a="1", b="2"))
    out = core.patch_namespaced_config_map("p", ns, {"data": {"a": None, "c": "3"}},
                                           _content_type="application/merge-patch+json")
    assert out.data == {"b": "2", "c": "3"}
    out = core.patch_namespaced_config_map(
        "p", ns, [{"op": "add", "path": "/data/d", "value": "4"},
                  {"op": "remove", "path": "/data/b"}], _content_type=JSON_PATCH)
    assert out.data == {"c": "3", "d": "4"}
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_config_map(
            "p", ns, [{"op": "test", "path": "/data/c", "value": "nope"}],
            _content_type=JSON_PATCH)
    assert e.value.status == 422
    pod = {"metadata": {"name": "sp"}, "spec": {"containers": [
        {"name": "a", "image": "one", "env": [{"name": "X", "value": "1"}]},
        {"name": "b", "image": "two"}]}}
    core.create_namespaced_pod(ns, pod)
    patched = core.patch_namespaced_pod(
        "sp", ns, {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]},
                                           {"name": "b", "$patch": "delete"}]}},
        _content_type=STRATEGIC)
    containers = patched.spec.containers
    assert [c.name for c in containers] == ["a"]
    assert containers[0].image == "one"
    assert [e.name for e in containers[0].env] == ["X", "Y"]


def test_optimistic_concurrency_on_patch(core: client.CoreV1Api, ns: str) -> None:
    c = core.create_namespaced_config_map(ns, cm("occ"))
    core.patch_namespaced_config_map("occ", ns, {"data": {"x": "1"}})
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_config_map("occ", ns, {"metadata": {
            "resourceVersion": c.metadata.resource_version}, "data": {"x": "2"}})
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "Conflict"


def test_strategic_patch_refused_for_custom_resources(custom: client.CustomObjectsApi) -> None:
    with pytest.raises(client.ApiException) as e:
        custom.patch_namespaced_custom_object(
            "opendatahub.io", "v1alpha", "opendatahub", "odhdashboardconfigs",
            "odh-dashboard-config", {"spec": {}}, _content_type=STRATEGIC)
    assert e.value.status == 415
    assert json.loads(e.value.body)["reason"] == "UnsupportedMediaType"


def test_server_side_apply_creates_then_merges(core: client.CoreV1Api, ns: str) -> None:
    # The client sends structured apply bodies as JSON, which is valid YAML.
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"},
           "data": {"a": "1"}}
    created = core.patch_namespaced_config_map_with_http_info(
        "applied", ns, doc, field_manager="test", _content_type=APPLY)
    data, code, _ = created
    assert code == 201 and data.data == {"a": "1"}
    doc2 = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "applied", "labels": {"x": "y"}}, "data": {"b": "2"}}
    merged = core.patch_namespaced_config_map_with_http_info(
        "applied", ns, doc2, field_manager="other", _content_type=APPLY)
    data, code, _ = merged
    assert code == 200 and data.data == {"a": "1", "b": "2"}
    assert data.metadata.labels == {"x": "y"}
    owners = {e.manager: e.fields_v1 for e in data.metadata.managed_fields}
    assert owners == {"test": {"f:data": {"f:a": {}}},
                      "other": {"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}}
    # A manager that stops applying a field it alone owned lets it go.
    data = core.patch_namespaced_config_map("applied", ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"},
        "data": {"a2": "3"}}, field_manager="test", _content_type=APPLY)
    assert data.data == {"a2": "3", "b": "2"}
    with pytest.raises(client.ApiException) as e:
        core.patch_namespaced_config_map("applied", ns, doc, _content_type=APPLY)
    assert e.value.status == 422  # fieldManager is required for apply


def test_label_and_field_selectors(core: client.CoreV1Api, ns: str) -> None:
    for i, (env, tier) in enumerate([("prod", "web"), ("dev", "web"), ("prod", "db"),
                                     ("qa", None)]):
        labels = {"env": env}
        if tier:
            labels["tier"] = tier
        core.create_namespaced_config_map(ns, cm(f"c{i}", labels))

    def names(**kw: str) -> list[str]:
        return [c.metadata.name for c in core.list_namespaced_config_map(ns, **kw).items]

    assert names(label_selector="env=prod") == ["c0", "c2"]
    assert names(label_selector="env==prod,tier=db") == ["c2"]
    assert names(label_selector="env!=prod") == ["c1", "c3"]
    assert names(label_selector="env in (dev,qa)") == ["c1", "c3"]
    assert names(label_selector="env notin (dev,qa)") == ["c0", "c2"]
    assert names(label_selector="tier") == ["c0", "c1", "c2"]
    assert names(label_selector="!tier") == ["c3"]
    assert names(field_selector="metadata.name=c1") == ["c1"]
    assert names(field_selector="metadata.name!=c1,metadata.namespace=" + ns) == [
        "c0", "c2", "c3"]
    with pytest.raises(client.ApiException) as e:
        names(field_selector="data.x=1")
    assert e.value.status == 400 and "field label not supported" in e.value.body
    with pytest.raises(client.ApiException) as e:
        names(label_selector="env in prod")
    assert e.value.status == 400


def test_pod_phase_field_selector_cluster_wide(core: client.CoreV1Api, ns: str) -> None:
    spec = {"containers": [{"name": "c", "image": "x"}]}
    for name in ("run", "wait"):
        core.create_namespaced_pod(ns, {"metadata": {"name": name}, "spec": spec})
    core.patch_namespaced_pod_status("run", ns, {"status": {"phase": "Running"}})
    running = core.list_pod_for_all_namespaces(field_selector="status.phase=Running")
    assert [(p.metadata.namespace, p.metadata.name) for p in running.items
            if p.metadata.namespace == ns] == [(ns, "run")]
    assert running.kind == "PodList" and int(running.metadata.resource_version) > 0


def test_pagination(core: client.CoreV1Api, ns: str) -> None:
    for i in range(7):
        core.create_namespaced_config_map(ns, cm(f"page-{i}"))
    seen: list[str] = []
    page = core.list_namespaced_config_map(ns, limit=3)
    assert page.metadata.remaining_item_count == 4
    rv = page.metadata.resource_version
    while True:
        seen += [c.metadata.name for c in page.items]
        if not page.metadata._continue:
            break
        assert page.metadata.resource_version == rv
        page = core.list_namespaced_config_map(ns, limit=3, _continue=page.metadata._continue)
    assert seen == [f"page-{i}" for i in range(7)]
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map(ns, limit=3, _continue="garbage")
    assert e.value.status == 400


def test_expired_continue_token_is_410(kube, core: client.CoreV1Api, ns: str) -> None:
    for i in range(3):
        core.create_namespaced_config_map(ns, cm(f"e-{i}"))
    token = core.list_namespaced_config_map(ns, limit=1).metadata._continue
    core.create_namespaced_config_map(ns, cm("later"))
    kube.store.compact()  # the token's resourceVersion is now older than what is kept
    with pytest.raises(client.ApiException) as e:
        core.list_namespaced_config_map(ns, limit=1, _continue=token)
    assert e.value.status == 410 and json.loads(e.value.body)["reason"] == "Expired"
