"""Auto and per-user modes over real WebSockets against the sandbox: one upstream per key the
service account may watch, one per (user, key) otherwise (per-user mode: always), and access
taken away mid-stream."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

AUTO = pytest.mark.parametrize("watch_config", [{"mode": "auto"}], ids=["auto"])


def secrets_path(uid: str, ns: str = "alice-project") -> str:
    return f"/wss/k8s/api/v1/namespaces/{ns}/secrets?watch=true&labelSelector=test%3D{uid}"


def upstream_watches(sandbox_kube: Any, plural: str, uid: str) -> int:
    return sum(1 for m, p, q in sandbox_kube.requests.snapshot()
               if m == "GET" and p.endswith(f"/{plural}") and "watch=true" in q and uid in q)


async def secret(cluster: Any, name: str, uid: str, ns: str = "alice-project",
                 user: str = "alice") -> Any:
    return await cluster.call("POST", f"/api/v1/namespaces/{ns}/secrets", {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": f"{name}--{uid}", "labels": {"test": uid}},
        "stringData": {"k": "v"}}, user=user)


@AUTO
async def test_key_the_service_account_may_watch_gets_one_upstream(
        h: Any, odh_server: Any, cluster: Any, sandbox_kube: Any, uid: str) -> None:
    await cluster.configmap("seed", uid)
    sockets = [await odh_server.ws(h.watch_path(uid), user=u)
               for u in ("alice", "admin", "alice", "admin") * 3]
    for ws in sockets:
        assert await h.events_until(ws, 1) == [("ADDED", "seed")]
    await cluster.configmap("live", uid)
    for ws in sockets:
        assert await h.events_until(ws, 1) == [("ADDED", "live")]
    assert upstream_watches(sandbox_kube, "configmaps", uid) == 1
    assert h.metric(odh_server, "odh_watch_upstream_watches", mode="auto") == 1
    hub = odh_server.app.plugin("watch").hub
    assert [owner for owner, _ in hub.informers] == [None]  # the service account's
    for ws in sockets:
        ws.close()
    await h.until(lambda: not hub.informers)


@AUTO
async def test_key_the_service_account_may_not_watch_gets_one_upstream_per_user(
        h: Any, odh_server: Any, cluster: Any, sandbox_kube: Any, uid: str) -> None:
    # odh-core's service account may not read Secrets in alice-project; alice and admin may.
    await secret(cluster, "seed", uid)
    alice = [await odh_server.ws(secrets_path(uid), user="alice") for _ in range(4)]
    admin = [await odh_server.ws(secrets_path(uid), user="admin") for _ in range(3)]
    for ws in alice + admin:
        assert await h.events_until(ws, 1) == [("ADDED", "seed")]
    await secret(cluster, "live", uid)
    for ws in alice + admin:
        assert await h.events_until(ws, 1) == [("ADDED", "live")]
    assert upstream_watches(sandbox_kube, "secrets", uid) == 2  # one per user, not per socket
    hub = odh_server.app.plugin("watch").hub
    owners = [owner for owner, _ in hub.informers]
    assert len(owners) == 2 and None not in owners
    assert not any(isinstance(o, str) for o in owners)  # keyed by a hash, never the token
    with pytest.raises(Exception) as err:  # bob may not: refused before the upgrade
        await odh_server.ws(secrets_path(uid), user="bob")
    assert getattr(err.value, "code", None) == 403
    for ws in alice + admin:
        ws.close()


@pytest.mark.parametrize("watch_config", [{"mode": "per-user"}], ids=["per-user"])
async def test_per_user_mode_one_upstream_per_user_and_none_as_the_service_account(
        h: Any, odh_server: Any, cluster: Any, sandbox_kube: Any, uid: str) -> None:
    # ConfigMaps: the service account may watch them, per-user mode still never does.
    await cluster.configmap("seed", uid)
    alice = [await odh_server.ws(h.watch_path(uid), user="alice") for _ in range(4)]
    admin = [await odh_server.ws(h.watch_path(uid), user="admin") for _ in range(3)]
    for ws in alice + admin:
        assert await h.events_until(ws, 1) == [("ADDED", "seed")]
    await cluster.configmap("live", uid)
    for ws in alice + admin:
        assert await h.events_until(ws, 1) == [("ADDED", "live")]
    assert upstream_watches(sandbox_kube, "configmaps", uid) == 2  # per user, not per socket
    assert h.metric(odh_server, "odh_watch_upstream_watches", mode="per-user") == 2
    hub = odh_server.app.plugin("watch").hub
    owners = [owner for owner, _ in hub.informers]
    assert len(owners) == 2 and None not in owners
    for ws in alice + admin:
        ws.close()
    await h.until(lambda: not hub.informers)


async def _grant_alice(cluster: Any, ns: str) -> None:
    await cluster.call("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, user="admin")
    await cluster.call("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
                       {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                        "metadata": {"name": "alice-edit"},
                        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                      "name": "alice"}],
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                    "kind": "ClusterRole", "name": "edit"}}, user="admin")


REVOKE = pytest.mark.parametrize("watch_config,plural", [
    ({"mode": "auto", "access_ttl_seconds": 600}, "configmaps"),
    ({"mode": "auto", "access_ttl_seconds": 600}, "secrets"),
    ({"mode": "auto", "access_ttl_seconds": 1, "recheck_on_rbac_change": False}, "configmaps"),
    ({"mode": "shared", "access_ttl_seconds": 600}, "configmaps"),
    ({"mode": "per-user", "access_ttl_seconds": 600}, "configmaps"),
], ids=["auto-shared-informer-rbac-change", "auto-user-informer-rbac-change",
        "auto-ttl-only", "shared-rbac-change", "per-user-rbac-change"])


@REVOKE
async def test_removing_the_rolebinding_stops_the_events(h: Any, odh_server: Any, cluster: Any,
                                                         uid: str, plural: str) -> None:
    ns = f"revoke-{uid}"
    await _grant_alice(cluster, ns)

    async def change(name: str) -> None:  # as admin: alice loses her rights on the way
        if plural == "secrets":
            await secret(cluster, name, uid, ns=ns, user="admin")
        else:
            await cluster.call("POST", f"/api/v1/namespaces/{ns}/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"{name}--{uid}", "labels": {"test": uid}}}, user="admin")

    ws = await odh_server.ws(f"/wss/k8s/api/v1/namespaces/{ns}/{plural}?watch=true"
                             f"&labelSelector=test%3D{uid}", user="alice")
    admin = await odh_server.ws(f"/wss/k8s/api/v1/namespaces/{ns}/{plural}?watch=true"
                                f"&labelSelector=test%3D{uid}", user="admin")
    await change("before")
    assert await h.events_until(ws, 1) == [("ADDED", "before")]
    assert await h.events_until(admin, 1) == [("ADDED", "before")]
    await cluster.call("DELETE", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/"
                                 "rolebindings/alice-edit", user="admin")
    # Within the TTL (1 s), or at once on the RBAC change (the TTL is 600 s there): 1008.
    msg = await asyncio.wait_for(ws.read_message(), 15)
    assert msg is None and ws.close_code == 1008, (msg, ws.close_code)
    ws.close()
    await change("after")  # admin still sees it; alice's socket is gone
    assert await h.events_until(admin, 1) == [("ADDED", "after")]
    mode = odh_server.app.plugin("watch").config.mode
    assert h.metric(odh_server, "odh_watch_access_denied_total", mode=mode) >= 1
    admin.close()
    # and alice may not come back
    with pytest.raises(Exception) as err:
        await odh_server.ws(f"/wss/k8s/api/v1/namespaces/{ns}/{plural}?watch=true", user="alice")
    assert getattr(err.value, "code", None) == 403


@AUTO
async def test_user_keyed_upstream_survives_a_cut_and_a_410(h: Any, odh_server: Any,
                                                            cluster: Any, sandbox_kube: Any,
                                                            uid: str) -> None:
    """One user's shared upstream (two tabs) resumes after a cut and relists after a 410; both
    tabs get every change exactly once."""
    tabs = [await odh_server.ws(secrets_path(uid), user="alice") for _ in range(2)]
    await secret(cluster, "one", uid)
    for ws in tabs:
        assert await h.events_until(ws, 1) == [("ADDED", "one")]
    sandbox_kube.faults.cut_watches(r"/namespaces/alice-project/secrets")
    await secret(cluster, "two", uid)
    for ws in tabs:
        assert await h.events_until(ws, 1) == [("ADDED", "two")]
    # Hold the reconnect, cut, change while away and compact: the resume gets 410 -> relist.
    sandbox_kube.faults.add_latency(2.0, method="GET", path_regex=r"alice-project/secrets",
                                    times=1)
    sandbox_kube.faults.cut_watches(r"/namespaces/alice-project/secrets")
    await cluster.call("DELETE", f"/api/v1/namespaces/alice-project/secrets/one--{uid}")
    await secret(cluster, "three", uid)
    sandbox_kube.store.compact()
    for ws in tabs:
        got = sorted(await h.events_until(ws, 2))
        assert got == [("ADDED", "three"), ("DELETED", "one")]
    await secret(cluster, "four", uid)
    for ws in tabs:
        assert await h.events_until(ws, 1) == [("ADDED", "four")]
    assert upstream_watches(sandbox_kube, "secrets", uid) >= 3  # resumed, not re-opened per tab
    hub = odh_server.app.plugin("watch").hub
    assert len(hub.informers) == 1
    for ws in tabs:
        ws.close()


async def test_user_filtered_resources_never_use_the_service_account() -> None:
    """OpenShift filters a list of projects per user: the service account's informer would
    show every user every project, whatever its RBAC says."""
    import logging

    from odh_watch.config import WatchConfig
    from odh_watch.hub import WatchHub
    from odh_watch.resources import Target

    hub = WatchHub(None, WatchConfig(), None, logging.getLogger("test"))  # type: ignore[arg-type]
    projects = Target("project.openshift.io", "v1", "projects")
    assert await hub.service_account_may_watch(projects) is False
