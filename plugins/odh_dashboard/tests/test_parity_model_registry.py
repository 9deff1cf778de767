"""Model registry settings against the sandbox: old shapes, admin only, the password only to
whoever may read its Secret, the not-installed 404, names checked."""
from __future__ import annotations

import uuid

MR_NS = "odh-model-registries"
MR_CRD = ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
          "modelregistries.modelregistry.opendatahub.io")


def _mr(name: str) -> dict:
    return {"modelRegistry": {
        "apiVersion": "modelregistry.opendatahub.io/v1beta1", "kind": "ModelRegistry",
        "metadata": {"name": name},
        "spec": {"grpc": {}, "rest": {}, "mysql": {"host": "db", "port": 3306,
                                                   "database": "mr", "username": "u"}}},
        "databasePassword": "s3cret-pw"}


async def test_model_registry_crud(odh_server, admin_kube):
    name = f"mr-{uuid.uuid4().hex[:6]}"
    assert (await odh_server.fetch("/api/modelRegistries", user="alice")).status == 403
    assert (await odh_server.fetch("/api/modelRegistries", "POST", user="alice",
                                   json=_mr(name))).status == 403
    resp = await odh_server.fetch("/api/modelRegistries?dryRun=true", "POST", user="admin",
                                  json=_mr(name))
    assert resp.status == 200, resp.text
    assert (await odh_server.fetch(f"/api/modelRegistries/{name}", user="admin")).status == 404
    resp = await odh_server.fetch("/api/modelRegistries", "POST", user="admin", json=_mr(name))
    assert resp.status == 200, resp.text
    created = resp.json()
    assert created["kind"] == "ModelRegistry" and "databasePassword" not in created
    ref = created["spec"]["mysql"]["passwordSecret"]
    assert ref["key"] == "database-password" and ref["name"].startswith(f"{name}-db-")
    listed = (await odh_server.fetch("/api/modelRegistries", user="admin")).json()
    assert name in {i["metadata"]["name"] for i in listed["items"]}
    assert "s3cret-pw" not in str(listed)
    got = await odh_server.fetch(f"/api/modelRegistries/{name}", user="admin")
    assert got.status == 200
    assert got.json()["databasePassword"] == "s3cret-pw"  # admin may read that Secret
    assert got.json()["modelRegistry"]["metadata"]["name"] == name
    # Patch: a new password lands in the Secret.
    resp = await odh_server.fetch(f"/api/modelRegistries/{name}", "PATCH", user="admin", json={
        "modelRegistry": {"metadata": {"annotations": {"x": "y"}}},
        "databasePassword": "new-pw"})
    assert resp.status == 200, resp.text
    assert resp.json()["modelRegistry"]["metadata"]["annotations"]["x"] == "y"
    assert (await odh_server.fetch(f"/api/modelRegistries/{name}",
                                   user="admin")).json()["databasePassword"] == "new-pw"
    assert (await odh_server.fetch(f"/api/modelRegistries/{name}", "DELETE",
                                   user="alice")).status == 403
    resp = await odh_server.fetch(f"/api/modelRegistries/{name}", "DELETE", user="admin")
    assert resp.status == 200, resp.text
    status, _ = await admin_kube.call("GET", f"/api/v1/namespaces/{MR_NS}/secrets/{ref['name']}")
    assert status == 404  # the password Secret went with it
    assert (await odh_server.fetch(f"/api/modelRegistries/{name}", user="admin")).status == 404


async def test_model_registry_role_bindings_and_certificates(odh_server):
    rb = {"metadata": {"name": f"registry-user-{uuid.uuid4().hex[:6]}",
                       "labels": {"app.kubernetes.io/component": "model-registry"}},
          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                      "name": "view"},
          "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                        "name": "bob"}]}
    assert (await odh_server.fetch("/api/modelRegistryRoleBindings", user="alice")).status == 403
    assert (await odh_server.fetch("/api/modelRegistryRoleBindings", "POST", user="alice",
                                   json=rb)).status == 403
    resp = await odh_server.fetch("/api/modelRegistryRoleBindings", "POST", user="admin", json=rb)
    assert resp.status == 200 and resp.json()["metadata"]["namespace"] == MR_NS
    again = await odh_server.fetch("/api/modelRegistryRoleBindings", "POST", user="admin", json=rb)
    assert again.status == 200 and again.json() == {}
    names = {i["metadata"]["name"] for i in (await odh_server.fetch(
        "/api/modelRegistryRoleBindings", user="admin")).json()["items"]}
    assert {rb["metadata"]["name"], "registry-user-modelregistry-sample-alice"} <= names
    assert "odh-core-model-registries" not in names
    # Only model registry bindings can be deleted through the route.
    assert (await odh_server.fetch("/api/modelRegistryRoleBindings/odh-core-model-registries",
                                   "DELETE", user="admin")).status == 404
    name = rb["metadata"]["name"]
    assert (await odh_server.fetch(f"/api/modelRegistryRoleBindings/{name}", "DELETE",
                                   user="alice")).status == 403
    assert (await odh_server.fetch(f"/api/modelRegistryRoleBindings/{name}", "DELETE",
                                   user="admin")).status == 200
    # Certificates: names and keys, never content.
    assert (await odh_server.fetch("/api/modelRegistryCertificates", user="alice")).status == 403
    resp = await odh_server.fetch("/api/modelRegistryCertificates", user="admin")
    assert resp.status == 200
    certs = resp.json()
    assert {"name": "db-ca-bundle", "keys": ["ca.crt"]} in certs["configMaps"]
    assert any(s["name"] == "modelregistry-sample-db-seed" for s in certs["secrets"])
    assert "sandbox-db-password" not in resp.text and "BEGIN CERTIFICATE" not in resp.text


async def test_model_registry_not_installed_and_bad_names(odh_server, admin_kube):
    for path in ("/api/modelRegistries/Bad_Name", "/api/modelRegistries/a..b"):
        assert (await odh_server.fetch(path, user="admin")).status == 400
    assert (await odh_server.fetch("/api/modelRegistryRoleBindings/-x", "DELETE",
                                   user="admin")).status == 400
    bad = _mr("Bad Name")
    assert (await odh_server.fetch("/api/modelRegistries", "POST", user="admin",
                                   json=bad)).status == 400
    status, crd = await admin_kube.call("GET", MR_CRD)
    assert status == 200
    status, sample = await admin_kube.call(
        "GET", f"/apis/modelregistry.opendatahub.io/v1beta1/namespaces/{MR_NS}/modelregistries/"
        "modelregistry-sample")
    await admin_kube.call("DELETE", MR_CRD)
    try:
        resp = await odh_server.fetch("/api/modelRegistries", user="admin")
        assert resp.status == 404 and "not installed" in resp.json()["message"]
        assert (await odh_server.fetch("/api/modelRegistries/modelregistry-sample",
                                       user="admin")).status == 404
    finally:  # put the kind and the seed's registry back for whoever runs next
        crd["metadata"] = {"name": crd["metadata"]["name"]}
        crd.pop("status", None)
        status, body = await admin_kube.call(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        assert status == 201, body
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation",
                    "managedFields"):
            sample["metadata"].pop(key, None)
        await admin_kube.call(
            "POST", f"/apis/modelregistry.opendatahub.io/v1beta1/namespaces/{MR_NS}/"
            "modelregistries", sample)
