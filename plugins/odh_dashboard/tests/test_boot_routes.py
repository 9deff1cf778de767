"""The dashboard frontend's boot routes against the sandbox over HTTP (issue 12, COMPAT.md §3):
shapes for an admin and a plain user, changes in the cluster shown without a restart, and no
API call per request once the caches are warm.

Namespaced objects live in this module's own dashboard namespace (`dash_ns`, conftest.py);
the cluster-scoped ones are the seed's (conf/sandbox) or made here with unique names."""
from __future__ import annotations

import asyncio
import base64
import copy
from typing import Any

import pytest
from odh_core.testing import eventually as wait_for

APPS = "/apis/dashboard.opendatahub.io/v1/namespaces/{ns}/odhapplications"
QUICKSTARTS = "/apis/console.openshift.io/v1/namespaces/{ns}/odhquickstarts"
BUILD_CONFIGS = "/apis/build.openshift.io/v1/namespaces/{ns}/buildconfigs"
BUILDS = "/apis/build.openshift.io/v1/namespaces/{ns}/builds"
ACCOUNTS = "/apis/nim.opendatahub.io/v1/namespaces/{ns}/accounts"
ROUTES = "/apis/route.openshift.io/v1/namespaces/{ns}/routes"
CONFIG_MAPS = "/api/v1/namespaces/{ns}/configmaps"
SECRETS = "/api/v1/namespaces/{ns}/secrets"
CONSOLE_LINKS = "/apis/console.openshift.io/v1/consolelinks"
DSCS = "/apis/datasciencecluster.opendatahub.io/v2/datascienceclusters"
USERS = ("admin", "alice")
BOOT_ROUTES = ("/api/dsc/status", "/api/dsci/status", "/api/builds", "/api/components",
               "/api/components?installed=true", "/api/integrations/nim", "/api/console-links",
               "/api/quickstarts", "/api/segment-key")


def app(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "dashboard.opendatahub.io/v1", "kind": "OdhApplication",
            "metadata": {"name": name},
            "spec": {"displayName": name.title(), "provider": "test", "description": "",
                     "kfdefApplications": [], "img": "", "docsLink": "", "support": "x",
                     **spec}}


def cm(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def build(bc: str, number: int, phase: str) -> dict[str, Any]:
    return {"apiVersion": "build.openshift.io/v1", "kind": "Build",
            "metadata": {"name": f"{bc}-{number}", "labels": {"buildconfig": bc},
                         "annotations": {"openshift.io/build.number": str(number)}},
            "spec": {}, "status": {"phase": phase,
                                   "startTimestamp": f"2025-01-0{number}T10:00:00Z",
                                   "completionTimestamp": f"2025-01-0{number}T10:05:00Z"}}


async def admin(admin_kube, method: str, path: str, body: Any = None,
                ctype: str = "application/json") -> tuple[int, Any]:
    """A call straight at the API server as its admin, off the loop (plain blocking sockets
    closed before it returns: nothing left for the test's loop to tear down)."""
    return await asyncio.to_thread(admin_kube.sync, method, path, body, ctype)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def boot_ns(admin_kube, dash_ns: str) -> str:
    """The boot routes' objects in this module's dashboard namespace."""
    ns = dash_ns
    bc = {"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig", "spec": {}}
    objects = [
        (APPS, app("jupyter", category="Open Data Hub managed", route="jupyter-ui",
                   routeSuffix="/hub")),
        (APPS, app("nvidia-nim", category="Self-managed",
                   internalRoute="/api/integrations/nim")),
        (APPS, app("starburst", category="Self-managed", endpoint="https://sb.example",
                   enable={"validationConfigMap": "starburst-validation"})),
        (APPS, app("managed", category="Red Hat managed", consoleLink="managed-link")),
        (APPS, app("idle", category="Self-managed")),
        (APPS, app("flagged", category="Red Hat managed", featureFlag="someOffFlag")),
        (CONFIG_MAPS, cm("odh-enabled-applications-config", {"jupyter": "true"})),
        (CONFIG_MAPS, cm("starburst-validation", {"validation_result": "true"})),
        (CONFIG_MAPS, cm("odh-segment-key-config", {"segmentKeyEnabled": "true"})),
        (SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "odh-segment-key"},
                   "type": "Opaque", "data": {"segmentKey": b64("key-one")}}),
        (SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other-secret"},
                   "type": "Opaque", "data": {"password": b64("do-not-leak")}}),
        (ROUTES, {"apiVersion": "route.openshift.io/v1", "kind": "Route",
                  "metadata": {"name": "jupyter-ui"},
                  "spec": {"host": "jupyter.apps.example", "tls": {"termination": "edge"}}}),
        (QUICKSTARTS, {"apiVersion": "console.openshift.io/v1", "kind": "OdhQuickStart",
                       "metadata": {"name": "qs-jupyter"},
                       "spec": {"appName": "jupyter", "displayName": "Jupyter QS", "tasks": []}}),
        (QUICKSTARTS, {"apiVersion": "console.openshift.io/v1", "kind": "OdhQuickStart",
                       "metadata": {"name": "qs-orphan"},
                       "spec": {"appName": "no-such-app", "displayName": "Orphan"}}),
        (QUICKSTARTS, {"apiVersion": "console.openshift.io/v1", "kind": "OdhQuickStart",
                       "metadata": {"name": "qs-flagged"},
                       "spec": {"appName": "jupyter", "featureFlag": "someOffFlag"}}),
        (BUILD_CONFIGS, dict(bc, metadata={"name": "nb-a", "labels": {
            "opendatahub.io/build_type": "notebook_image",
            "opendatahub.io/notebook-name": "notebook-a"}})),
        (BUILD_CONFIGS, dict(bc, metadata={"name": "nb-b", "labels": {
            "opendatahub.io/build_type": "notebook_image"}})),
        (BUILD_CONFIGS, dict(bc, metadata={"name": "not-a-notebook"})),
        (BUILDS, build("nb-a", 1, "Complete")),
        (BUILDS, build("nb-a", 2, "Failed")),
        (BUILDS, build("nb-a", 3, "New")),  # pending: the latest finished one wins
        (ACCOUNTS, {"apiVersion": "nim.opendatahub.io/v1", "kind": "Account",
                    "metadata": {"name": "odh-nim-account"},
                    "spec": {"apiKeySecret": {"name": "nvidia-nim-access"}},
                    "status": {"lastAccountCheck": "2025-02-01T00:00:00Z", "conditions": [
                        {"type": "APIKeyValidation", "status": "True",
                         "lastTransitionTime": "2025-02-01T00:00:00Z", "message": "ok"},
                        {"type": "AccountStatus", "status": "False",
                         "message": "account not reconciled yet"}]}}),
    ]
    for path, obj in objects:
        create(admin_kube, path.format(ns=ns), obj)
    return ns


def create(admin_kube, path: str, obj: dict[str, Any]) -> None:
    """POST, then PUT the status too where the kind has a status subresource (a create
    ignores it there, as on a real cluster)."""
    status, made = admin_kube.sync("POST", path, obj)
    assert status == 201, made
    if obj.get("status") and made.get("status") != obj["status"]:
        made["status"] = obj["status"]
        status, body = admin_kube.sync("PUT", f"{path}/{obj['metadata']['name']}/status", made)
        assert status == 200, body


@pytest.fixture
def console_link(admin_kube):
    """A ConsoleLink of this test's own (cluster-scoped), removed afterwards."""
    name = "managed-link"  # what the module's `managed` app names
    made: list[str] = []

    async def make(href: str) -> str:
        status, body = await admin(admin_kube, "POST", CONSOLE_LINKS, {
            "apiVersion": "console.openshift.io/v1", "kind": "ConsoleLink",
            "metadata": {"name": name},
            "spec": {"text": "Managed", "location": "ApplicationMenu", "href": href}})
        assert status == 201, body
        made.append(name)
        return name

    yield make
    for n in made:
        admin_kube.sync("DELETE", f"{CONSOLE_LINKS}/{n}")


async def get_json(odh_server, path: str, user: str = "alice") -> Any:
    resp = await odh_server.fetch(path, user=user)
    assert resp.status == 200, (path, resp.status, resp.text)
    return resp.json()


def resource_reads(sandbox_kube, ns: str) -> int:
    """Non-watch GETs of anything the boot routes read (lists or single objects)."""
    kinds = ("datascienceclusters", "dscinitializations", "odhapplications", "odhquickstarts",
             "consolelinks", "buildconfigs", "builds", "accounts", "routes", "configmaps",
             "secrets", "odhdashboardconfigs")
    return sum(1 for m, p, q in sandbox_kube.requests.snapshot()
               if m == "GET" and "watch=" not in q and any(f"/{k}" in p for k in kinds))


# -- shapes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("user", USERS)
async def test_dsc_and_dsci_status(odh_server, boot_ns, user):
    dsc = await get_json(odh_server, "/api/dsc/status", user)
    # The seed's DataScienceCluster (conf/sandbox/odh.yaml): its .status, non-empty.
    assert dsc["phase"] == "Ready" and dsc["release"]["name"] == "Open Data Hub"
    assert "dashboard" in dsc["components"]
    dsci = await get_json(odh_server, "/api/dsci/status", user)
    assert dsci["phase"] == "Ready" and dsci["release"]["version"]


async def test_boot_routes_need_a_signed_in_user(odh_server, boot_ns):
    for path in BOOT_ROUTES:
        assert (await odh_server.fetch(path)).status == 401, path


@pytest.mark.parametrize("user", USERS)
async def test_builds(odh_server, boot_ns, user):
    builds = await get_json(odh_server, "/api/builds", user)
    assert sorted(builds, key=lambda b: b["name"]) == [
        {"name": "nb-b", "status": "Not started"},
        {"name": "notebook-a", "status": "Failed", "timestamp": "2025-01-02T10:05:00Z"},
    ]


@pytest.mark.parametrize("user", USERS)
async def test_components(odh_server, boot_ns, user, console_link):
    await console_link("https://managed.example/ui")
    apps = {a["metadata"]["name"]: a for a in await get_json(odh_server, "/api/components",
                                                             user)}
    assert set(apps) == {"jupyter", "nvidia-nim", "starburst", "managed", "idle"}  # no flagged
    assert apps["starburst"]["spec"]["isEnabled"] is True
    assert apps["starburst"]["spec"]["link"] == "https://sb.example"
    assert apps["managed"]["spec"]["isEnabled"] is True
    assert apps["idle"]["spec"]["isEnabled"] is False
    assert apps["idle"]["spec"]["shownOnEnabledPage"] is False
    assert apps["jupyter"]["spec"]["shownOnEnabledPage"] is True  # the enabled-apps ConfigMap
    assert "isEnabled" not in apps["nvidia-nim"]["spec"]  # the client asks its internalRoute

    async def installed() -> dict[str, Any] | None:
        got = {a["metadata"]["name"]: a for a in await get_json(
            odh_server, "/api/components?installed=true", user)}
        return got if got.get("managed", {}).get("spec", {}).get("link") else None

    got = await wait_for(installed)  # the ConsoleLink made above reaches its cache
    assert set(got) == {"jupyter", "nvidia-nim", "starburst", "managed"}
    assert got["jupyter"]["spec"]["link"] == "https://jupyter.apps.example/hub"  # its Route
    assert got["managed"]["spec"]["link"] == "https://managed.example/ui"
    assert got["nvidia-nim"]["spec"]["internalRoute"] == "/api/integrations/nim"


@pytest.mark.parametrize("user", USERS)
async def test_nim_integration(odh_server, boot_ns, user):
    assert await get_json(odh_server, "/api/integrations/nim", user) == {
        "isInstalled": True, "isEnabled": False, "variablesValidationStatus": "True",
        "variablesValidationTimestamp": "2025-02-01T00:00:00Z", "canInstall": True,
        "error": "account not reconciled yet"}


@pytest.mark.parametrize("user", USERS)
async def test_console_links_quickstarts_segment_key(odh_server, boot_ns, user):
    links = await get_json(odh_server, "/api/console-links", user)
    assert {"odh-dashboard-link", "odh-docs-link"} <= {li["metadata"]["name"] for li in links}
    assert all(li["kind"] == "ConsoleLink" and li["spec"]["href"] for li in links)
    qs = await get_json(odh_server, "/api/quickstarts", user)
    assert [q["metadata"]["name"] for q in qs] == ["qs-jupyter"]
    assert qs[0]["spec"]["displayName"] == "Jupyter QS"
    resp = await odh_server.fetch("/api/segment-key", user=user)
    assert resp.json() == {"segmentKey": "key-one"}
    assert "do-not-leak" not in resp.text


# -- changes through the watches -----------------------------------------------------------------
async def test_changes_show_without_restart_or_api_calls(odh_server, sandbox_kube, admin_kube,
                                                         boot_ns):
    for path in BOOT_ROUTES:  # every cache warm
        assert (await odh_server.fetch(path, user="alice")).status == 200, path
    # The analytics key rotates, a quick start appears, a build finishes: made behind
    # odh-core's back, straight at the API server.
    status, _ = await admin(
        admin_kube, "PATCH", SECRETS.format(ns=boot_ns) + "/odh-segment-key",
        {"data": {"segmentKey": b64("key-two")}}, "application/merge-patch+json")
    assert status == 200
    status, _ = await admin(admin_kube, "POST", QUICKSTARTS.format(ns=boot_ns), {
        "apiVersion": "console.openshift.io/v1", "kind": "OdhQuickStart",
        "metadata": {"name": "qs-jupyter-2"}, "spec": {"appName": "jupyter"}})
    assert status == 201
    await asyncio.to_thread(create, admin_kube, BUILDS.format(ns=boot_ns),
                            build("nb-b", 4, "Complete"))

    async def all_changed() -> bool:
        key = (await get_json(odh_server, "/api/segment-key"))["segmentKey"]
        qs = {q["metadata"]["name"] for q in await get_json(odh_server, "/api/quickstarts")}
        builds = {b["name"]: b["status"] for b in await get_json(odh_server, "/api/builds")}
        return key == "key-two" and "qs-jupyter-2" in qs and builds["nb-b"] == "Complete"

    await wait_for(all_changed)
    before = resource_reads(sandbox_kube, boot_ns)
    for _ in range(3):
        for user in USERS:
            for path in BOOT_ROUTES:
                assert (await odh_server.fetch(path, user=user)).status == 200, path
    assert resource_reads(sandbox_kube, boot_ns) == before  # the watches fed them, not reads

    # The ConfigMap switch turns the key off, and back on.
    cm_path = CONFIG_MAPS.format(ns=boot_ns) + "/odh-segment-key-config"
    for value, expected in (("false", ""), ("true", "key-two")):
        status, _ = await admin(admin_kube, "PATCH", cm_path,
                                {"data": {"segmentKeyEnabled": value}},
                                "application/merge-patch+json")
        assert status == 200

        async def switched() -> bool:
            body = await get_json(odh_server, "/api/segment-key")
            return body == {"segmentKey": expected}

        await wait_for(switched)


async def test_dsc_gone_is_404_and_back_is_200(odh_server, admin_kube, boot_ns):
    """The UI shows an error page on 404; the route follows the cluster both ways."""
    assert (await odh_server.fetch("/api/dsc/status", user="alice")).status == 200
    status, listing = await admin(admin_kube, "GET", DSCS)
    assert status == 200 and listing["items"]
    saved = [copy.deepcopy(o) for o in listing["items"]]
    try:
        for obj in saved:
            status, _ = await admin(admin_kube, "DELETE",
                                    f"{DSCS}/{obj['metadata']['name']}")
            assert status == 200

        async def gone() -> bool:
            return (await odh_server.fetch("/api/dsc/status", user="alice")).status == 404

        await wait_for(gone)
        body = (await odh_server.fetch("/api/dsc/status", user="alice")).json()
        assert body["error"] == "DSC Unavailable" and body["message"]
    finally:
        for obj in saved:
            meta = obj["metadata"]
            for key in ("resourceVersion", "uid", "creationTimestamp", "generation",
                        "managedFields"):
                meta.pop(key, None)
            status, made = await admin(admin_kube, "POST", DSCS, obj)
            assert status == 201, made
            if made.get("status") != obj.get("status"):  # status subresource: set it apart
                made["status"] = obj["status"]
                status, _ = await admin(
                    admin_kube, "PUT", f"{DSCS}/{meta['name']}/status", made)
                assert status == 200

    async def back() -> bool:
        resp = await odh_server.fetch("/api/dsc/status", user="alice")
        return resp.status == 200 and resp.json().get("phase") == "Ready"

    await wait_for(back)


async def test_nim_without_an_account(odh_server, boot_ns, admin_kube):
    """No Account in the namespace: not installed, installable. (Runs last: it deletes the
    module's Account.)"""
    status, _ = await admin(admin_kube, "DELETE",
                            ACCOUNTS.format(ns=boot_ns) + "/odh-nim-account")
    assert status == 200

    async def no_account() -> bool:
        body = await get_json(odh_server, "/api/integrations/nim")
        return body["isInstalled"] is False

    await wait_for(no_account)
    assert await get_json(odh_server, "/api/integrations/nim") == {
        "isInstalled": False, "isEnabled": False, "variablesValidationStatus": "Unknown",
        "variablesValidationTimestamp": "", "canInstall": True, "error": ""}


def test_nim_state_when_the_kind_is_not_served():
    from odh_dashboard.boot import nim_state

    assert nim_state([], crd_missing=True) == {
        "isInstalled": False, "isEnabled": False, "variablesValidationStatus": "Unknown",
        "variablesValidationTimestamp": "", "canInstall": False, "error": "NIM not installed"}
