"""Serving-runtime templates, dashboardConfig objects and ServingRuntime dry runs against the
sandbox: old shapes, admin only, the not-installed 404, names checked."""
from __future__ import annotations

import uuid

SR_CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servingruntimes.serving.kserve.io"


def _template(ns: str, name: str) -> dict:
    return {"apiVersion": "template.openshift.io/v1", "kind": "Template",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"opendatahub.io/dashboard": "true"}},
            "objects": [{"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
                         "metadata": {"name": "rt"}, "spec": {"containers": []}}]}


async def test_templates_crud_admin_only(odh_server, make_namespace):
    ns = make_namespace("tmpl")
    name = f"t-{uuid.uuid4().hex[:6]}"
    assert (await odh_server.fetch("/api/templates", "POST", user="alice",
                                   json=_template(ns, name))).status == 403
    dry = await odh_server.fetch("/api/templates?dryRun=All", "POST", user="admin",
                                 json=_template(ns, name))
    assert dry.status == 200, dry.text
    assert (await odh_server.fetch(f"/api/templates/{ns}", user="admin")).json()["items"] == []
    resp = await odh_server.fetch("/api/templates", "POST", user="admin", json=_template(ns, name))
    assert resp.status == 200 and resp.json()["metadata"]["name"] == name
    assert (await odh_server.fetch(f"/api/templates/{ns}", user="alice")).status == 403
    listed = await odh_server.fetch(
        f"/api/templates/{ns}?labelSelector=opendatahub.io/dashboard%3Dtrue", user="admin")
    assert listed.status == 200 and listed.json()["kind"] == "TemplateList"
    assert [t["metadata"]["name"] for t in listed.json()["items"]] == [name]
    none = await odh_server.fetch(f"/api/templates/{ns}?labelSelector=nope%3Dx", user="admin")
    assert none.json()["items"] == []
    patch = [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]
    assert (await odh_server.fetch(f"/api/templates/{ns}/{name}", "PATCH", user="alice",
                                   json=patch)).status == 403
    resp = await odh_server.fetch(f"/api/templates/{ns}/{name}", "PATCH", user="admin", json=patch)
    assert resp.status == 200 and resp.json()["metadata"]["annotations"] == {"a": "b"}
    assert (await odh_server.fetch(f"/api/templates/{ns}/{name}", "DELETE",
                                   user="alice")).status == 403
    assert (await odh_server.fetch(f"/api/templates/{ns}/{name}", "DELETE",
                                   user="admin")).status == 200
    assert (await odh_server.fetch(f"/api/templates/{ns}/{name}", user="admin")).status == 404


async def test_dashboard_config_object_get_and_json_patch(odh_server, dash_ns):
    path = f"/api/dashboardConfig/{dash_ns}/odh-dashboard-config"
    resp = await odh_server.fetch(path, user="alice")  # the deploy form reads the order
    assert resp.status == 200 and resp.json()["kind"] == "OdhDashboardConfig"
    patch = [{"op": "add", "path": "/spec/templateOrder", "value": ["vllm-runtime-template"]}]
    assert (await odh_server.fetch(path, "PATCH", user="alice", json=patch)).status == 403
    resp = await odh_server.fetch(path, "PATCH", user="admin", json=patch)
    assert resp.status == 200, resp.text
    assert resp.json()["spec"]["templateOrder"] == ["vllm-runtime-template"]
    cfg = (await odh_server.fetch("/api/config", user="bob",
                                  headers={"Cache-Control": "no-cache"})).json()
    assert cfg["spec"]["templateOrder"] == ["vllm-runtime-template"]
    resp = await odh_server.fetch(path, "PATCH", user="admin",
                                  json=[{"op": "remove", "path": "/spec/templateOrder"}])
    assert resp.status == 200
    # Another namespace's object is read with the caller's token: alice may not.
    assert (await odh_server.fetch("/api/dashboardConfig/bob-project/odh-dashboard-config",
                                   user="alice")).status == 403
    assert (await odh_server.fetch(path, "PATCH", user="admin",
                                   json={"op": "x"})).status == 400


async def test_serving_runtime_dry_run_and_not_installed(odh_server, admin_kube, make_namespace):
    ns = make_namespace("srt")
    sr = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
          "metadata": {"name": "rt", "namespace": ns}, "spec": {"containers": []}}
    assert (await odh_server.fetch("/api/servingRuntimes?dryRun=All", "POST", user="alice",
                                   json=sr)).status == 403
    resp = await odh_server.fetch("/api/servingRuntimes?dryRun=All", "POST", user="admin", json=sr)
    assert resp.status == 200 and resp.json()["kind"] == "ServingRuntime"
    status, _ = await admin_kube.call(
        "GET", f"/apis/serving.kserve.io/v1alpha1/namespaces/{ns}/servingruntimes/rt")
    assert status == 404  # a dry run created nothing
    assert (await odh_server.fetch("/api/servingRuntimes?dryRun=Some", "POST", user="admin",
                                   json=sr)).status == 400
    status, crd = await admin_kube.call("GET", SR_CRD)
    assert status == 200
    await admin_kube.call("DELETE", SR_CRD)
    try:
        resp = await odh_server.fetch("/api/servingRuntimes?dryRun=All", "POST", user="admin",
                                      json=sr)
        assert resp.status == 404
        assert "not installed" in resp.json()["message"]
    finally:
        crd["metadata"] = {"name": crd["metadata"]["name"]}
        crd.pop("status", None)
        status, body = await admin_kube.call(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        assert status == 201, body


async def test_templates_bad_names(odh_server):
    for path in ("/api/templates/Bad_NS", "/api/templates/ns/Bad_Name",
                 "/api/dashboardConfig/a..b/x"):
        assert (await odh_server.fetch(path, user="admin")).status == 400, path
    resp = await odh_server.fetch("/api/templates", "POST", user="admin",
                                  json=_template("Bad NS", "x"))
    assert resp.status == 400
    resp = await odh_server.fetch("/api/servingRuntimes", "POST", user="admin",
                                  json={"metadata": {"name": "../x", "namespace": "ok"}})
    assert resp.status == 400
