"""/api/connection-types against the sandbox: old shapes, admin-only writes, names checked."""
from __future__ import annotations

import uuid

CT_LABELS = {"opendatahub.io/dashboard": "true", "opendatahub.io/connection-type": "true"}


def _ct(name: str, labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": CT_LABELS if labels is None else labels},
            "data": {"fields": "[]"}}


async def test_connection_types_round_trip(odh_server, admin_kube, dash_ns):
    name = f"ct-{uuid.uuid4().hex[:6]}"
    # A plain ConfigMap of the dashboard namespace is never served as a connection type.
    await admin_kube.call("POST", f"/api/v1/namespaces/{dash_ns}/configmaps", {
        "metadata": {"name": f"{name}-plain"}, "data": {"secret-ish": "x"}})
    resp = await odh_server.fetch("/api/connection-types", "POST", user="alice", json=_ct(name))
    assert resp.status == 403
    resp = await odh_server.fetch("/api/connection-types", "POST", user="admin", json=_ct(name))
    assert resp.status == 200, resp.text
    assert resp.json() == {"success": True, "error": ""}
    resp = await odh_server.fetch("/api/connection-types", user="alice")
    assert resp.status == 200
    listed = resp.json()
    assert isinstance(listed, list) and name in {c["metadata"]["name"] for c in listed}
    assert f"{name}-plain" not in {c["metadata"]["name"] for c in listed}
    got = await odh_server.fetch(f"/api/connection-types/{name}", user="bob")
    assert got.status == 200 and got.json()["data"] == {"fields": "[]"}
    assert (await odh_server.fetch(f"/api/connection-types/{name}-plain",
                                   user="alice")).status == 404
    # Duplicate: the old message, 409.
    dup = await odh_server.fetch("/api/connection-types", "POST", user="admin", json=_ct(name))
    assert dup.status == 409 and dup.json()["success"] is False
    assert "already exists" in dup.json()["error"]
    # PUT and json-patch (admin only).
    body = _ct(name)
    body["data"] = {"fields": "[1]"}
    assert (await odh_server.fetch(f"/api/connection-types/{name}", "PUT", user="alice",
                                   json=body)).status == 403
    resp = await odh_server.fetch(f"/api/connection-types/{name}", "PUT", user="admin", json=body)
    assert resp.status == 200, resp.text
    patch = [{"op": "replace", "path": "/data/fields", "value": "[2]"}]
    assert (await odh_server.fetch(f"/api/connection-types/{name}", "PATCH", user="alice",
                                   json=patch)).status == 403
    resp = await odh_server.fetch(f"/api/connection-types/{name}", "PATCH", user="admin",
                                  json=patch)
    assert resp.status == 200, resp.text
    got = (await odh_server.fetch(f"/api/connection-types/{name}", user="alice")).json()
    assert got["data"]["fields"] == "[2]"
    # A patch that would drop a label is refused and changes nothing.
    bad = [{"op": "remove", "path": "/metadata/labels/opendatahub.io~1connection-type"}]
    resp = await odh_server.fetch(f"/api/connection-types/{name}", "PATCH", user="admin",
                                  json=bad)
    assert resp.status == 400 and "labels" in resp.json()["message"]
    assert (await odh_server.fetch(f"/api/connection-types/{name}", user="alice")).status == 200
    # Delete: admin only; the plain ConfigMap cannot be deleted through the route.
    assert (await odh_server.fetch(f"/api/connection-types/{name}", "DELETE",
                                   user="alice")).status == 403
    assert (await odh_server.fetch(f"/api/connection-types/{name}-plain", "DELETE",
                                   user="admin")).status == 404
    resp = await odh_server.fetch(f"/api/connection-types/{name}", "DELETE", user="admin")
    assert resp.status == 200 and resp.json()["success"] is True
    assert (await odh_server.fetch(f"/api/connection-types/{name}", user="alice")).status == 404


async def test_connection_types_refuse_bad_input(odh_server):
    resp = await odh_server.fetch("/api/connection-types", "POST", user="admin",
                                  json=_ct("x", labels={"opendatahub.io/dashboard": "true"}))
    assert resp.status == 400 and resp.json()["error"].startswith("Unable to add")
    for bad in ("Bad_Name", "a..b", "-x"):
        resp = await odh_server.fetch(f"/api/connection-types/{bad}", user="alice")
        assert resp.status == 400, bad
        resp = await odh_server.fetch("/api/connection-types", "POST", user="admin",
                                      json=_ct(bad))
        assert resp.status == 400, bad
    resp = await odh_server.fetch("/api/connection-types/s3", "PATCH", user="admin",
                                  json={"op": "replace"})
    assert resp.status in (400, 404)
