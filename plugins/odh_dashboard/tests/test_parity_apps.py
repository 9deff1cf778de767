"""Application routes (issue 13, COMPAT.md §3 "apps") against the sandbox over HTTP: removing an
app from the Enabled page, ISV validation, documents, the operator subscription; old shapes,
admin-only where the old backend was, 400 for bad names, 404 when not installed."""
from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from odh_core.testing import eventually as poll

APPS = "/apis/dashboard.opendatahub.io/v1/namespaces/{ns}/odhapplications"
DOCS = "/apis/dashboard.opendatahub.io/v1/namespaces/{ns}/odhdocuments"
CONFIG_MAPS = "/api/v1/namespaces/{ns}/configmaps"
SECRETS = "/api/v1/namespaces/{ns}/secrets"


async def admin(admin_kube: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return await asyncio.to_thread(admin_kube.sync, method, path, body)


def app(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "dashboard.opendatahub.io/v1", "kind": "OdhApplication",
            "metadata": {"name": name},
            "spec": {"displayName": name, "provider": "t", "description": "", "img": "",
                     "docsLink": "", "support": "x", "category": "Self-managed", **spec}}


def doc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "dashboard.opendatahub.io/v1", "kind": "OdhDocument",
            "metadata": {"name": name}, "spec": {"displayName": name, "description": "",
                                                 "url": "https://x", **spec}}


@pytest.fixture(scope="module")
def seeded(admin_kube: Any, dash_ns: str) -> str:
    for path, obj in (
        (APPS, app("plain", enable={"validationConfigMap": "plain-validation"})),
        (APPS, app("isv", enable={"variables": {"license": "password"},
                                   "validationSecret": "isv-access",
                                   "validationConfigMap": "isv-validation",
                                   "validationJob": "isv-validator"})),
        (APPS, app("nojob", enable={"variables": {"license": "password"},
                                     "validationConfigMap": "nojob-validation"})),
        (APPS, app("flagged", featureFlag="disableHome")),
        (APPS, app("nocm", enable={"title": "no validation config map"})),
        (CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "odh-enabled-applications-config"},
                       "data": {"plain": "true", "isv": "true"}}),
        (DOCS, doc("plain-doc", appName="plain", type="documentation")),
        (DOCS, doc("plain-tutorial", appName="plain", type="tutorial")),
        (DOCS, doc("orphan-doc", appName="no-such-app", type="documentation")),
        (DOCS, doc("generic-howto", type="how-to")),
        (DOCS, doc("flag-doc", featureFlag="genAiStudio", type="how-to")),
    ):
        status, body = admin_kube.sync("POST", path.format(ns=dash_ns), obj)
        assert status == 201, body
    return dash_ns


async def test_remove_component(odh_server: Any, admin_kube: Any, seeded: str) -> None:
    path = CONFIG_MAPS.format(ns=seeded) + "/odh-enabled-applications-config"
    assert (await odh_server.fetch("/api/components/remove?appName=plain",
                                   user="alice")).status == 403
    assert (await odh_server.fetch("/api/components/remove?appName=Bad..Name",
                                   user="admin")).status == 400
    assert (await odh_server.fetch("/api/components/remove", user="admin")).status == 400
    resp = await odh_server.fetch("/api/components/remove?appName=plain", user="admin")
    assert resp.status == 200 and resp.json() == {"success": True, "error": ""}
    _, cm = await admin(admin_kube, "GET", path)
    assert cm["data"] == {"isv": "true"}
    # Removing what is not there is fine too.
    resp = await odh_server.fetch("/api/components/remove?appName=plain", user="admin")
    assert resp.json() == {"success": True, "error": ""}


async def test_validate_isv(odh_server: Any, admin_kube: Any, seeded: str) -> None:
    q = "/api/validate-isv?appName={}&values={}"
    for user in ("alice", "bob"):
        assert (await odh_server.fetch(q.format("plain", "{}"), user=user)).status == 403
        assert (await odh_server.fetch("/api/validate-isv/results?appName=plain",
                                       user=user)).status == 403
    assert (await odh_server.fetch(q.format("Not_A_Name", "{}"), user="admin")).status == 400
    assert (await odh_server.fetch(q.format("missing-app", "{}"), user="admin")).status == 404
    assert (await odh_server.fetch(q.format("isv", "%5B1%5D"), user="admin")).status == 400

    # No validation ConfigMap named: both routes say so, as a 200 (the Node backend does).
    missing = {"complete": True, "valid": False,
               "error": "The validation config map for the application does not exist."}
    for url in (q.format("nocm", "{}"), "/api/validate-isv/results?appName=nocm"):
        resp = await odh_server.fetch(url, user="admin")
        assert resp.status == 200 and resp.json() == missing

    # No variables: the validation ConfigMap is created with validation_result "true".
    resp = await odh_server.fetch(q.format("plain", "{}"), user="admin")
    assert resp.status == 200 and resp.json() == {"complete": True, "valid": True, "error": ""}
    _, cm = await admin(admin_kube, "GET", CONFIG_MAPS.format(ns=seeded) + "/plain-validation")
    assert cm["data"] == {"validation_result": "true"}
    resp = await odh_server.fetch("/api/validate-isv/results?appName=plain", user="admin")
    assert resp.json() == {"complete": True, "valid": True, "error": ""}

    # Variables: the values land in the validation Secret; the CronJob is not there.
    values = "%7B%22license%22%3A%22s3cret%22%7D"
    resp = await odh_server.fetch(q.format("isv", values), user="admin")
    assert resp.status == 200, resp.body
    assert resp.json()["complete"] is True and resp.json()["valid"] is False
    assert "validation job" in resp.json()["error"]
    _, secret = await admin(admin_kube, "GET", SECRETS.format(ns=seeded) + "/isv-access")
    assert base64.b64decode(secret["data"]["license"]) == b"s3cret"
    assert base64.b64decode(secret["data"]["configMapName"]) == b"isv-validation"
    resp = await odh_server.fetch("/api/validate-isv/results?appName=isv", user="admin")
    assert resp.json() == {"complete": True, "valid": False,
                           "error": "Failed to create validation job."}
    resp = await odh_server.fetch(q.format("nojob", values), user="admin")
    assert resp.json() == {"complete": True, "valid": False,
                           "error": "Validation job is undefined."}

    # A validation Job that finished, and its ConfigMap: results says valid.
    status, body = await admin(admin_kube, "POST", f"/apis/batch/v1/namespaces/{seeded}/jobs", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "isv-validator-job-custom-run"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "v", "image": "busybox"}]}}}})
    assert status == 201, body
    resp = await odh_server.fetch("/api/validate-isv/results?appName=isv", user="admin")
    assert resp.json() == {"complete": False, "valid": False, "error": None}
    body["status"] = {"succeeded": 1}
    status, _ = await admin(admin_kube, "PUT", f"/apis/batch/v1/namespaces/{seeded}/jobs/"
                            "isv-validator-job-custom-run/status", body)
    assert status == 200
    await admin(admin_kube, "POST", CONFIG_MAPS.format(ns=seeded), {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "isv-validation"},
        "data": {"validation_result": "true"}})
    resp = await odh_server.fetch("/api/validate-isv/results?appName=isv", user="admin")
    assert resp.json() == {"complete": True, "valid": True, "error": ""}


async def test_docs(odh_server: Any, seeded: str) -> None:
    async def names(query: str = "", **kw: Any) -> list[str]:
        resp = await odh_server.fetch("/api/docs" + query, user="alice", **kw)
        assert resp.status == 200, resp.body
        return sorted(d["metadata"]["name"] for d in resp.json())

    assert await names() == ["generic-howto", "plain-doc", "plain-tutorial"]
    assert await names("?type=tutorial") == ["plain-tutorial"]
    flags = {"x-odh-feature-flags": '{"genAiStudio": true}'}
    assert "flag-doc" in await names(headers=flags)
    assert await names("?type=none") == []
    assert (await odh_server.fetch("/api/docs")).status == 401


async def test_operator_subscription(odh_server: Any) -> None:
    resp = await odh_server.fetch("/api/operator-subscription-status", user="alice")
    assert resp.status == 200, resp.body
    assert resp.json() == {"installedCSV": "opendatahub-operator.v2.25.0",
                           "installPlanRefNamespace": "openshift-operators"}


class TestNoSubscription:
    @pytest.fixture
    def odh_config(self, odh_base_config: dict[str, Any], dash_ns: str) -> dict[str, Any]:
        return {**odh_base_config,
                "kubernetes": {**odh_base_config["kubernetes"], "dashboard_namespace": dash_ns},
                "plugins": {"dashboard": {"operator_subscription_names": ["no-such-operator"]}}}

    async def test_subscription_not_installed(self, odh_server: Any) -> None:
        """No Subscription of that operator (or no OLM at all): 404 with the old message."""
        resp = await odh_server.fetch("/api/operator-subscription-status", user="alice")
        assert resp.status == 404
        assert resp.json()["message"] == "Unable to get subscription information"
