"""`/api/k8s/<path>` against the sandbox API server over HTTP(S)."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import yaml

NS = "alice-project"
CM = f"/api/k8s/api/v1/namespaces/{NS}/configmaps"
AGGREGATED = "application/json;v=v2;g=apidiscovery.k8s.io;as=APIGroupDiscoveryList"


def bearer(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


async def test_other_users_namespace_is_the_apiservers_403(odh_server, direct, tokens):
    resp = await odh_server.fetch("/api/k8s/api/v1/namespaces/bob-project/configmaps",
                                  user="alice")
    async with direct.get(direct.kube_url + "/api/v1/namespaces/bob-project/configmaps",
                          headers=bearer(tokens, "alice")) as r:
        expected = await r.read()
        assert r.status == 403
    assert resp.status == 403
    assert resp.body == expected  # the Status as the API server wrote it
    status = resp.json()
    assert status["kind"] == "Status" and status["reason"] == "Forbidden"
    assert '"alice"' in status["message"]
    assert resp.headers["Content-Type"].startswith("application/json")


async def test_every_patch_type_round_trips(odh_server, uid):
    name = f"patchy-{uid}"
    url = f"{CM}/{name}"
    created = await odh_server.fetch(CM, "POST", user="alice", json={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
        "data": {"a": "1"}})
    assert created.status == 201, created.text
    assert created.json()["metadata"]["name"] == name

    async def patch(content_type: str, body: Any, query: str = "") -> dict[str, Any]:
        raw = body if isinstance(body, str) else json.dumps(body)
        resp = await odh_server.fetch(url + query, "PATCH", user="alice", body=raw,
                                      headers={"Content-Type": content_type})
        assert resp.status == 200, (content_type, resp.text)
        return resp.json()

    obj = await patch("application/merge-patch+json", {"data": {"b": "2"}})
    assert obj["data"] == {"a": "1", "b": "2"}
    obj = await patch("application/json-patch+json",
                      [{"op": "remove", "path": "/data/a"},
                       {"op": "add", "path": "/data/c", "value": "3"}])
    assert obj["data"] == {"b": "2", "c": "3"}
    obj = await patch("application/strategic-merge-patch+json",
                      {"metadata": {"labels": {"kind": "strategic"}}, "data": {"d": "4"}})
    assert obj["metadata"]["labels"] == {"kind": "strategic"}
    assert obj["data"] == {"b": "2", "c": "3", "d": "4"}
    applied = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": name, "namespace": NS},
                              "data": {"e": "5"}})
    obj = await patch("application/apply-patch+yaml", applied,
                      "?fieldManager=odh-test&force=true")
    assert obj["data"]["e"] == "5"

    got = await odh_server.fetch(url, user="alice")
    assert got.status == 200 and got.json()["data"]["e"] == "5"
    gone = await odh_server.fetch(url, "DELETE", user="alice")
    assert gone.status == 200
    assert (await odh_server.fetch(url, user="alice")).status == 404


async def test_watch_delivers_events_as_they_happen(odh_server, http, tokens, uid):
    listed = await odh_server.fetch(f"{CM}?labelSelector=watch%3D{uid}", user="alice")
    rv = listed.json()["metadata"]["resourceVersion"]
    url = f"{odh_server.url}{CM}?watch=true&labelSelector=watch%3D{uid}&resourceVersion={rv}"

    async def create(i: int) -> str:
        name = f"w{i}-{uid}"
        made = await odh_server.fetch(CM, "POST", user="alice", json={
            "metadata": {"name": name, "labels": {"watch": uid}}, "data": {}})
        assert made.status == 201
        return name

    async def open_watch() -> Any:
        return await http.get(url, headers=bearer(tokens, "alice"))

    # The sandbox (unlike a real API server) sends the watch's headers with its first event,
    # so the first object is created while the watch is being opened; the watch starts from
    # the listed resourceVersion, so it cannot miss it.
    opening = asyncio.ensure_future(open_watch())
    names = [await create(0)]
    async with await asyncio.wait_for(opening, 10) as resp:
        assert resp.status == 200
        for i in range(3):
            if i:
                names.append(await create(i))
            # The event must arrive before anything else happens: no buffering in between.
            event = json.loads(await asyncio.wait_for(resp.content.readline(), 10))
            assert event["type"] == "ADDED"
            assert event["object"]["metadata"]["name"] == names[i]
    await odh_server.fetch(f"{CM}?labelSelector=watch%3D{uid}", "DELETE", user="alice")


async def test_missing_crd_plain_404_becomes_a_status(odh_server, direct, tokens):
    path = f"/apis/notinstalled.example.com/v1/namespaces/{NS}/widgets"
    async with direct.get(direct.kube_url + path, headers=bearer(tokens, "alice")) as r:
        assert r.status == 404 and r.content_type == "text/plain"  # what a real server sends
    resp = await odh_server.fetch("/api/k8s" + path, user="alice")
    assert resp.status == 404
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure", "reason": "NotFound", "details": {},
                           "message": "the server could not find the requested resource",
                           "code": 404}
    # An ordinary NotFound Status (object missing) is relayed as the server wrote it.
    missing = await odh_server.fetch(f"{CM}/does-not-exist", user="alice")
    assert missing.status == 404 and missing.json()["details"]["name"] == "does-not-exist"


async def test_aggregated_discovery_passes_through(odh_server, direct, tokens):
    async with direct.get(direct.kube_url + "/apis", headers={
            **bearer(tokens, "alice"), "Accept": AGGREGATED}) as r:
        expected_type, expected = r.headers["Content-Type"], await r.read()
    resp = await odh_server.fetch("/api/k8s/apis", user="alice", headers={"Accept": AGGREGATED})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == expected_type
    assert "apidiscovery.k8s.io" in expected_type
    assert resp.json()["kind"] == "APIGroupDiscoveryList"
    assert resp.body == expected


async def test_text_pod_logs_pass_through_and_follow_streams(odh_server, sandbox_kube, http,
                                                             tokens, uid):
    pod = f"logger-{uid}"
    made = await odh_server.fetch(f"/api/k8s/api/v1/namespaces/{NS}/pods", "POST", user="alice",
                                  json={"apiVersion": "v1", "kind": "Pod",
                                        "metadata": {"name": pod},
                                        "spec": {"containers": [{"name": "main",
                                                                 "image": "busybox"}]}})
    assert made.status == 201, made.text
    await asyncio.to_thread(sandbox_kube.append_log, NS, pod, "main", "first line")
    log_path = f"/api/k8s/api/v1/namespaces/{NS}/pods/{pod}/log"
    resp = await odh_server.fetch(log_path, user="alice", headers={"Accept": "text/plain"})
    assert resp.status == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text == "first line\n"

    async with http.get(f"{odh_server.url}{log_path}?follow=true&container=main",
                        headers={**bearer(tokens, "alice"), "Accept": "text/plain"}) as r:
        assert r.status == 200
        assert await asyncio.wait_for(r.content.readline(), 10) == b"first line\n"
        for text in ("second", "third"):
            await asyncio.to_thread(sandbox_kube.append_log, NS, pod, "main", text)
            assert await asyncio.wait_for(r.content.readline(), 10) == text.encode() + b"\n"
    await odh_server.fetch(f"/api/k8s/api/v1/namespaces/{NS}/pods/{pod}", "DELETE",
                           user="alice")


async def test_query_string_forwarded_verbatim(odh_server, sandbox_kube, uid):
    query = f"limit=250&marker={uid}&labelSelector=a%3D1&marker=again&continue="
    resp = await odh_server.fetch(f"{CM}?{query}", user="alice")
    assert resp.status == 200, resp.text
    seen = [q for m, p, q in sandbox_kube.requests if uid in q]
    assert seen == [query]


async def test_impersonation_and_credentials_do_not_travel(odh_server, tokens):
    # Were Impersonate-User forwarded, alice's own list would be refused (she may not
    # impersonate) and the message would not name her.
    headers = {"Impersonate-User": "admin", "Impersonate-Group": "system:masters"}
    own = await odh_server.fetch(CM, user="alice", headers=headers)
    assert own.status == 200, own.text
    other = await odh_server.fetch("/api/k8s/api/v1/namespaces/bob-project/configmaps",
                                   user="alice", headers=headers)
    assert other.status == 403 and '"alice"' in other.json()["message"]
    # The token comes from x-forwarded-access-token (what the auth proxy sets) just as well.
    via_proxy = await odh_server.fetch(CM, headers={"x-forwarded-access-token": tokens["bob"]})
    assert via_proxy.status == 403 and '"bob"' in via_proxy.json()["message"]


async def test_paths_outside_the_api_are_refused(odh_server):
    for path, status in [("/api/k8s/api/v1/%2e%2e/%2e%2e/healthz", 400),
                         ("/api/k8s/api/v1/namespaces/../../../metrics", 400),
                         ("/api/k8s/healthz", 404), ("/api/k8s/metrics", 404),
                         ("/api/k8s/", 404)]:
        resp = await odh_server.fetch(path, user="alice")
        assert resp.status == status, (path, resp.text)
        assert resp.json()["success"] is False
    version = await odh_server.fetch("/api/k8s/version", user="alice")
    assert version.status == 200 and "gitVersion" in version.json()
    assert (await odh_server.fetch(CM)).status == 401  # no token, no forwarding
