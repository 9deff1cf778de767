"""The dashboard's watch-fed cache against the sandbox: resume after a drop, relist on 410."""
from __future__ import annotations


from odh_dashboard.informer import Informer
from odh_core.testing import eventually as wait_until

CONFIGS = "/apis/opendatahub.io/v1alpha/namespaces/{ns}/odhdashboardconfigs"


def support_flag(inf: Informer, ns: str):
    obj = inf.get("odh-dashboard-config", ns) or {}
    return ((obj.get("spec") or {}).get("dashboardConfig") or {}).get("disableInfo")


async def test_resumes_after_a_dropped_watch_without_relisting(odh_server, sandbox_kube,
                                                               admin_kube, dash_ns):
    inf = Informer(odh_server.app.kube, CONFIGS.format(ns=dash_ns), watch_timeout=60)
    inf.start()
    try:
        assert await inf.wait_synced(10)
        assert inf.lists == 1 and inf.get("odh-dashboard-config", dash_ns) is not None
        watches = sandbox_kube.requests.count("GET", f"/namespaces/{dash_ns}/odhdashboardconfigs")
        sandbox_kube.faults.cut_watches(f"/namespaces/{dash_ns}/odhdashboardconfigs")
        await wait_until(lambda: sandbox_kube.requests.count(
            "GET", f"/namespaces/{dash_ns}/odhdashboardconfigs") > watches)
        for value in (True, None):
            status, _ = await admin_kube.call(
                "PATCH", f"{CONFIGS.format(ns=dash_ns)}/odh-dashboard-config",
                {"spec": {"dashboardConfig": {"disableInfo": value}}},
                "application/merge-patch+json")
            assert status == 200
            await wait_until(lambda: support_flag(inf, dash_ns) is value)
        assert inf.lists == 1  # resumed from its resourceVersion, no second list
    finally:
        await inf.stop()


async def test_relists_when_its_resource_version_is_gone(odh_server, sandbox_kube, dash_ns):
    sandbox_kube.store.compact()  # history up to now is gone (like an etcd compaction)
    inf = Informer(odh_server.app.kube, CONFIGS.format(ns=dash_ns), watch_timeout=60)
    inf.resource_version = "1"  # a watch from here is answered with a 410 ERROR event
    inf.start()
    try:
        await wait_until(lambda: inf.lists == 1)
        assert inf.get("odh-dashboard-config", dash_ns) is not None
        assert inf.synced.is_set() and inf.resource_version != "1"
    finally:
        await inf.stop()


async def test_a_missing_type_is_synced_and_empty(odh_server):
    inf = Informer(odh_server.app.kube, "/apis/nothing.example.com/v1/widgets", watch_timeout=60)
    inf.start()
    try:
        assert await inf.wait_synced(10)
        assert inf.items() == [] and inf.lists == 0
    finally:
        await inf.stop()
