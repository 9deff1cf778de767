"""NIM routes (issue 13, COMPAT.md §3 "NIM") against the sandbox over HTTP: enabling and
disabling as admin (Secret + Account, old shapes), plain users refused, the not-installed 404,
and /api/nim-serving returning an object only to someone who may read it."""
from __future__ import annotations

import asyncio
import base64
from typing import Any
from odh_core.testing import eventually as poll

ACCOUNTS = "/apis/nim.opendatahub.io/v1/namespaces/{ns}/accounts"
SECRETS = "/api/v1/namespaces/{ns}/secrets"
CONFIG_MAPS = "/api/v1/namespaces/{ns}/configmaps"
STATE_KEYS = {"isInstalled", "isEnabled", "variablesValidationStatus",
              "variablesValidationTimestamp", "canInstall", "error"}


async def admin(admin_kube: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return await asyncio.to_thread(admin_kube.sync, method, path, body)


async def test_enable_serve_disable(odh_server: Any, admin_kube: Any, dash_ns: str) -> None:
    # Plain users may not enable or disable.
    refused = await odh_server.fetch("/api/integrations/nim", "POST", user="alice",
                                     json={"api_key": "k"})
    assert refused.status == 403 and "message" in refused.json()
    assert (await odh_server.fetch("/api/integrations/nim", "DELETE", user="alice")).status == 403
    status, _ = await admin(admin_kube, "GET", SECRETS.format(ns=dash_ns) + "/nvidia-nim-access")
    assert status == 404

    # Bad bodies: 400 before anything is written.
    for body in ({}, {"api_key": 3}, ["x"], {"bad key!": "v"}):
        resp = await odh_server.fetch("/api/integrations/nim", "POST", user="admin", json=body)
        assert resp.status == 400, (body, resp.body)

    resp = await odh_server.fetch("/api/integrations/nim", "POST", user="admin",
                                  json={"api_key": "first-key"})
    assert resp.status == 200, resp.body
    state = resp.json()
    assert set(state) == STATE_KEYS and state["isInstalled"] is True
    assert b"first-key" not in resp.body
    status, secret = await admin(admin_kube, "GET",
                                 SECRETS.format(ns=dash_ns) + "/nvidia-nim-access")
    assert status == 200 and base64.b64decode(secret["data"]["api_key"]) == b"first-key"
    status, accounts = await admin(admin_kube, "GET", ACCOUNTS.format(ns=dash_ns))
    assert [a["metadata"]["name"] for a in accounts["items"]] == ["odh-nim-account"]
    assert accounts["items"][0]["spec"]["apiKeySecret"]["name"] == "nvidia-nim-access"

    # Again: the Secret is replaced and re-validation requested; still one Account.
    resp = await odh_server.fetch("/api/integrations/nim", "POST", user="admin",
                                  json={"api_key": "second-key"})
    assert resp.status == 200
    _, secret = await admin(admin_kube, "GET", SECRETS.format(ns=dash_ns) + "/nvidia-nim-access")
    assert base64.b64decode(secret["data"]["api_key"]) == b"second-key"
    assert "runtimes.opendatahub.io/nim-force-validation" in secret["metadata"]["annotations"]
    _, accounts = await admin(admin_kube, "GET", ACCOUNTS.format(ns=dash_ns))
    assert len(accounts["items"]) == 1

    # The GET (boot cache) sees the account.
    async def installed() -> bool:
        r = await odh_server.fetch("/api/integrations/nim", user="alice")
        return r.status == 200 and r.json()["isInstalled"] is True
    await poll(installed, "the NIM account in the boot cache")

    # /api/nim-serving: the Secret only for someone who may read it.
    resp = await odh_server.fetch("/api/nim-serving/apiKeySecret", user="admin")
    assert resp.status == 200, resp.body
    assert resp.json()["kind"] == "Secret" and resp.json()["metadata"]["name"] == "nvidia-nim-access"
    denied = await odh_server.fetch("/api/nim-serving/apiKeySecret", user="alice")
    assert denied.status == 403 and b"second-key" not in denied.body \
        and base64.b64encode(b"second-key") not in denied.body
    anonymous = await odh_server.fetch("/api/nim-serving/apiKeySecret")
    assert anonymous.status == 401
    assert (await odh_server.fetch("/api/nim-serving/somethingElse", user="admin")).status == 404
    # Not named by the account yet -> 404; then the operator fills in status.nimConfig.
    assert (await odh_server.fetch("/api/nim-serving/nimConfig", user="admin")).status == 404
    status, _ = await admin(admin_kube, "POST", CONFIG_MAPS.format(ns=dash_ns), {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nim-images"},
        "data": {"model": "{}"}})
    assert status == 201
    _, account = await admin(admin_kube, "GET", ACCOUNTS.format(ns=dash_ns) + "/odh-nim-account")
    account["status"] = {"nimConfig": {"name": "nim-images"},
                         "nimPullSecret": {"name": "Not_A_Name"}}
    status, body = await admin(admin_kube, "PUT",
                               ACCOUNTS.format(ns=dash_ns) + "/odh-nim-account/status", account)
    assert status == 200, body

    async def served() -> Any:
        r = await odh_server.fetch("/api/nim-serving/nimConfig", user="admin")
        return r if r.status == 200 else None
    resp = await poll(served, "nimConfig in the cached account")
    assert resp.json()["kind"] == "ConfigMap" and resp.json()["data"] == {"model": "{}"}
    assert (await odh_server.fetch("/api/nim-serving/nimConfig", user="bob")).status == 403
    # A bad name in the account never reaches the API server.
    assert (await odh_server.fetch("/api/nim-serving/nimPullSecret", user="admin")).status == 400

    # Disable: Account and Secret gone; a second time says so in the old shape.
    resp = await odh_server.fetch("/api/integrations/nim", "DELETE", user="admin")
    assert resp.status == 200 and resp.json() == {"success": True, "error": ""}
    status, accounts = await admin(admin_kube, "GET", ACCOUNTS.format(ns=dash_ns))
    assert accounts["items"] == []
    status, _ = await admin(admin_kube, "GET", SECRETS.format(ns=dash_ns) + "/nvidia-nim-access")
    assert status == 404
    resp = await odh_server.fetch("/api/integrations/nim", "DELETE", user="admin")
    assert resp.status == 200 and resp.json()["success"] is False


async def test_not_installed(odh_server: Any, admin_kube: Any, dash_ns: str,
                             sandbox_kube: Any) -> None:
    """The Account kind not served: POST/DELETE answer 404 and leave no Secret behind."""
    for method in ("POST", "DELETE"):
        sandbox_kube.faults.add_error(404, method="GET", times=1,
                                      path_regex=rf"/namespaces/{dash_ns}/accounts$")
        resp = await odh_server.fetch("/api/integrations/nim", method, user="admin",
                                      json={"api_key": "k"} if method == "POST" else None)
        assert resp.status == 404, resp.body
        assert "not installed" in resp.json()["message"]
    status, _ = await admin(admin_kube, "GET", SECRETS.format(ns=dash_ns) + "/nvidia-nim-access")
    assert status == 404
    # No account at all: nim-serving says so.
    assert (await odh_server.fetch("/api/nim-serving/apiKeySecret", user="admin")).status == 404
