"""/api/status, /api/status/user and /api/config against the sandbox over HTTP."""
from __future__ import annotations

import json

from odh_dashboard.defaults import FLAGS_FALSE, FLAGS_TRUE, OTHER_SPEC
from odh_core.testing import eventually as wait_for

CONFIG_OBJ = "/apis/opendatahub.io/v1alpha/namespaces/{ns}/odhdashboardconfigs/odh-dashboard-config"


async def test_status_admin_and_plain_user(odh_server, dash_ns):
    resp = await odh_server.fetch("/api/status", user="admin")
    assert resp.status == 200, resp.text
    kube = resp.json()["kube"]
    assert kube["userName"] == "admin" and kube["isAdmin"] is True and kube["isAllowed"] is True
    assert kube["namespace"] == dash_ns
    # The seed's ClusterVersion (conf/sandbox/50-dashboard.yaml) names the cluster.
    assert kube["clusterID"] == "6f4c3a52-0d1e-4b9a-9a8e-5a1d5c0d5a11"
    assert kube["clusterBranding"] == "okd"
    assert kube["serverURL"] == odh_server.app.kube.host
    assert {"currentContext", "currentUser", "userID"} <= set(kube)
    assert "isImpersonating" not in kube  # only in dev mode

    alice = (await odh_server.fetch("/api/status", user="alice")).json()["kube"]
    assert (alice["userName"], alice["userID"]) == ("alice", "uid-alice")
    assert alice["isAdmin"] is False and alice["isAllowed"] is True


async def test_status_needs_identity(odh_server):
    assert (await odh_server.fetch("/api/status")).status == 401
    assert (await odh_server.fetch("/api/status/user")).status == 401
    assert (await odh_server.fetch("/api/status", token="not-a-token")).status == 401


async def test_status_user(odh_server, dash_ns):
    body = (await odh_server.fetch("/api/status/user", user="alice")).json()
    assert body["username"] == "alice" and body["isAdmin"] is False
    assert "system:authenticated" in body["groups"] and body["namespace"] == dash_ns
    assert (await odh_server.fetch("/api/status/user", user="admin")).json()["isAdmin"] is True


async def test_config_is_the_object_over_the_defaults(odh_server, dash_ns):
    resp = await odh_server.fetch("/api/config", user="alice")
    assert resp.status == 200, resp.text
    cfg = resp.json()
    assert cfg["kind"] == "OdhDashboardConfig" and cfg["metadata"]["namespace"] == dash_ns
    flags = cfg["spec"]["dashboardConfig"]
    # Every default flag is there; the object's own values win over the defaults...
    assert set(FLAGS_TRUE) | set(FLAGS_FALSE) <= set(flags)
    assert flags["disableTracking"] is False and flags["disableKServe"] is True
    assert flags["enablement"] is True and flags["disableHome"] is False
    # ...except the two the old backend forced after the merge.
    assert flags["mlflow"] is True and flags["disableFineTuning"] is True
    spec = cfg["spec"]
    assert spec["notebookController"] == {"enabled": True, "pvcSize": "30Gi"}
    assert spec["templateOrder"] == [] and spec["globalMLflowNamespaces"] == []
    assert spec["genAiStudioConfig"] == OTHER_SPEC["genAiStudioConfig"]


async def test_feature_flag_header_overrides_per_request(odh_server):
    hdr = {"x-odh-feature-flags": json.dumps({"disableHome": True, "mlflow": False,
                                              "brandNew": True})}
    flags = (await odh_server.fetch("/api/config", user="alice", headers=hdr)
             ).json()["spec"]["dashboardConfig"]
    assert flags["disableHome"] is True and flags["mlflow"] is False and flags["brandNew"]
    # Only that request: the next one answers the stored config.
    flags = (await odh_server.fetch("/api/config", user="alice")).json()["spec"]["dashboardConfig"]
    assert flags["disableHome"] is False and "brandNew" not in flags


async def test_bad_feature_flag_header_is_400(odh_server):
    for bad in ("{not json", "[1, 2]", '{"disableHome": "yes"}'):
        resp = await odh_server.fetch("/api/config", user="alice",
                                      headers={"x-odh-feature-flags": bad})
        assert resp.status == 400, bad
        assert "x-odh-feature-flags" in resp.json()["message"]


def config_reads(sandbox_kube, ns: str) -> int:
    """GETs of the config object or its list that were not watches."""
    return sum(1 for m, p, q in sandbox_kube.requests.snapshot()
               if m == "GET" and f"/namespaces/{ns}/odhdashboardconfigs" in p
               and "watch=" not in q)


async def test_a_change_in_the_cluster_shows_without_api_calls_per_request(
        odh_server, sandbox_kube, admin_kube, dash_ns):
    assert (await odh_server.fetch("/api/config", user="alice")).status == 200  # cache warm
    before = config_reads(sandbox_kube, dash_ns)
    status, _ = await admin_kube.call(
        "PATCH", CONFIG_OBJ.format(ns=dash_ns),
        {"spec": {"dashboardConfig": {"disableSupport": True}}}, "application/merge-patch+json")
    assert status == 200

    async def changed() -> bool:
        resp = await odh_server.fetch("/api/config", user="alice")
        return resp.json()["spec"]["dashboardConfig"]["disableSupport"] is True

    await wait_for(changed)
    for _ in range(5):
        await odh_server.fetch("/api/config", user="bob")
    assert config_reads(sandbox_kube, dash_ns) == before  # the watch fed it, not reads

    # Cache-Control: no-cache re-reads the object (one GET of it).
    resp = await odh_server.fetch("/api/config", user="alice",
                                  headers={"Cache-Control": "no-cache"})
    assert resp.json()["spec"]["dashboardConfig"]["disableSupport"] is True
    assert config_reads(sandbox_kube, dash_ns) == before + 1
    await admin_kube.call("PATCH", CONFIG_OBJ.format(ns=dash_ns),
                          {"spec": {"dashboardConfig": {"disableSupport": None}}},
                          "application/merge-patch+json")


async def test_patch_is_admin_only_and_updates_the_cache(odh_server, admin_kube, dash_ns):
    patch = {"spec": {"dashboardConfig": {"disableISVBadges": True}}}
    resp = await odh_server.fetch("/api/config", "PATCH", user="alice", json=patch)
    assert resp.status == 403
    resp = await odh_server.fetch("/api/config", "PATCH", user="admin", json=patch)
    assert resp.status == 200, resp.text
    assert resp.json()["spec"]["dashboardConfig"]["disableISVBadges"] is True
    # The next read answers the write at once (the cache took the patch's result).
    flags = (await odh_server.fetch("/api/config", user="bob")).json()["spec"]["dashboardConfig"]
    assert flags["disableISVBadges"] is True
    status, obj = await admin_kube.call("GET", CONFIG_OBJ.format(ns=dash_ns))
    assert obj["spec"]["dashboardConfig"]["disableISVBadges"] is True
    resp = await odh_server.fetch("/api/config", "PATCH", user="admin",
                                  json={"spec": {"dashboardConfig": {"disableISVBadges": None}}})
    assert resp.json()["spec"]["dashboardConfig"]["disableISVBadges"] is False  # default again
    assert (await odh_server.fetch("/api/config", "PATCH", user="admin", body="[1]",
                                   headers={"Content-Type": "application/json"})).status == 400


async def test_dev_impersonate_is_not_found_outside_dev_mode(odh_server):
    resp = await odh_server.fetch("/api/dev-impersonate", "POST", user="admin",
                                  json={"impersonate": True})
    assert resp.status == 404
    assert (await odh_server.fetch("/api/dev-impersonate", "POST",
                                   json={"impersonate": True})).status == 404
