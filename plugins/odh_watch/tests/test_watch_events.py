"""Watches over real WebSockets against the sandbox: order, auth paths, refusals."""
from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from watch_modes import ALL_MODES, INFORMER_MODES


@ALL_MODES
async def test_create_update_delete_arrive_in_order(h: Any, odh_server: Any, cluster: Any,
                                                    uid: str) -> None:
    await cluster.configmap("before", uid)
    ws = await odh_server.ws(h.watch_path(uid), user="alice")
    assert await h.events_until(ws, 1) == [("ADDED", "before")]  # the current state first
    await cluster.configmap("cm", uid)
    await cluster.set_data("cm", {"k": "v1"})
    await cluster.set_data("cm", {"k": "v2"})
    await cluster.delete("cm")
    got = [await h.next_event(ws) for _ in range(4)]
    assert [(e["type"], h.short(e)) for e in got] == [
        ("ADDED", "cm"), ("MODIFIED", "cm"), ("MODIFIED", "cm"), ("DELETED", "cm")]
    assert got[2]["object"]["data"] == {"k": "v2"}
    assert got[0]["object"]["kind"] == "ConfigMap"
    ws.close()


@ALL_MODES
async def test_simplified_form_resolves_the_resource_by_discovery(h: Any, odh_server: Any,
                                                                  cluster: Any,
                                                                  uid: str) -> None:
    ws = await odh_server.ws(f"/wss/k8s/watch?resource=ConfigMap&namespace={h.NS}"
                             f"&labelSelector=test%3D{uid}", user="alice")
    await cluster.configmap("simple", uid)
    assert await h.events_until(ws, 1) == [("ADDED", "simple")]
    ws.close()
    with pytest.raises(HTTPClientError) as err:
        await odh_server.ws("/wss/k8s/watch?resource=nosuchthings", user="alice")
    assert err.value.code == 404


@ALL_MODES
async def test_token_in_subprotocol_and_protocol_echoed(h: Any, odh_server: Any, cluster: Any,
                                                        tokens: dict[str, str],
                                                        uid: str) -> None:
    b64 = base64.urlsafe_b64encode(tokens["alice"].encode()).decode().rstrip("=")
    ws = await odh_server.ws(h.watch_path(uid), subprotocols=[
        f"base64url.bearer.authorization.k8s.io.{b64}", "base64.binary.k8s.io"])
    assert ws.selected_subprotocol == "base64.binary.k8s.io"  # never the token
    await cluster.configmap("sub", uid)
    assert await h.events_until(ws, 1) == [("ADDED", "sub")]
    ws.close()


@ALL_MODES
async def test_user_without_watch_rights_is_refused_before_the_upgrade(h: Any, 
        odh_server: Any, cluster: Any, uid: str) -> None:
    await cluster.configmap("secret-ish", uid)
    with pytest.raises(HTTPClientError) as err:
        await odh_server.ws(h.watch_path(uid), user="bob")  # bob has no rights in alice's project
    assert err.value.code == 403
    assert b"forbidden" in err.value.response.body
    with pytest.raises(HTTPClientError) as err:
        await odh_server.ws(h.watch_path(uid))  # no token at all
    assert err.value.code == 401
    with pytest.raises(HTTPClientError) as err:
        await odh_server.ws(h.watch_path(uid), user="alice", origin="https://evil.example")
    assert err.value.code == 403
    mode = odh_server.app.plugin("watch").config.mode
    assert h.metric(odh_server, "odh_watch_access_denied_total", mode=mode) == 1
    assert h.metric(odh_server, "odh_watch_clients", mode=mode) == 0


@pytest.mark.parametrize("watch_config", [{"mode": "shared"}], ids=["shared"])
async def test_shared_mode_n_subscribers_one_upstream_watch(h: Any, odh_server: Any, cluster: Any,
                                                            sandbox_kube: Any,
                                                            uid: str) -> None:
    await cluster.configmap("seed", uid)

    def upstream_watches() -> int:
        return sum(1 for m, p, q in sandbox_kube.requests.snapshot()
                   if m == "GET" and p.endswith("/configmaps") and "watch=true" in q
                   and uid in q)

    sockets = [await odh_server.ws(h.watch_path(uid), user=u)
               for u in ("alice", "admin", "alice", "admin", "alice") * 4]
    for ws in sockets:  # everybody gets the current object first
        assert await h.events_until(ws, 1) == [("ADDED", "seed")]
    await cluster.configmap("live", uid)
    for ws in sockets:
        assert await h.events_until(ws, 1) == [("ADDED", "live")]
    assert upstream_watches() == 1
    assert h.metric(odh_server, "odh_watch_clients", mode="shared") == 20
    assert h.metric(odh_server, "odh_watch_upstream_watches", mode="shared") == 1
    assert h.metric(odh_server, "odh_watch_events_relayed_total", mode="shared") >= 40
    for ws in sockets:
        ws.close()
    # The last subscriber gone (linger 0 here): the informer and its upstream watch close.
    await h.until(lambda: h.metric(odh_server, "odh_watch_upstream_watches", mode="shared") == 0)
    assert not odh_server.app.plugin("watch").hub.informers


@INFORMER_MODES
async def test_shared_subscriber_with_resource_version_gets_only_what_it_missed(h: Any, 
        odh_server: Any, cluster: Any, uid: str) -> None:
    first = await odh_server.ws(h.watch_path(uid), user="alice")
    created = await cluster.configmap("a", uid)
    assert await h.events_until(first, 1) == [("ADDED", "a")]
    await cluster.set_data("a", {"x": "1"})
    await cluster.configmap("b", uid)
    assert await h.events_until(first, 2) == [("MODIFIED", "a"), ("ADDED", "b")]
    rv = created["metadata"]["resourceVersion"]
    late = await odh_server.ws(h.watch_path(uid, extra=f"&resourceVersion={rv}"), user="alice")
    assert await h.events_until(late, 2) == [("MODIFIED", "a"), ("ADDED", "b")]
    first.close()
    late.close()


async def test_first_websocket_draws_no_ping_settings_warning(h: Any, odh_server: Any,
                                                              uid: str, caplog: Any) -> None:
    """Tornado says so once per process when the ping timeout outlasts the interval."""
    assert odh_server.app.tornado.settings["websocket_ping_timeout"] <= \
        odh_server.app.tornado.settings["websocket_ping_interval"]
    with caplog.at_level("WARNING", logger="tornado.general"):
        ws = await odh_server.ws(h.watch_path(uid), user="alice")
        ws.close()
    assert not [r for r in caplog.records if "websocket_ping" in r.getMessage()]


@ALL_MODES
async def test_bookmarks_reach_the_clients_that_asked(h: Any, odh_server: Any, cluster: Any,
                                                      sandbox_kube: Any, uid: str) -> None:
    server = sandbox_kube.server
    interval, server.bookmark_interval = server.bookmark_interval, 0.2
    try:
        asked = await odh_server.ws(h.watch_path(uid, extra="&allowWatchBookmarks=true"),
                                    user="alice")
        plain = await odh_server.ws(h.watch_path(uid), user="alice")
        await cluster.configmap("first", uid)
        assert await h.events_until(plain, 1) == [("ADDED", "first")]
        seen = []
        while len([e for e in seen if e["type"] == "BOOKMARK"]) < 2:
            seen.append(await h.next_event(asked))
        marks = [e for e in seen if e["type"] == "BOOKMARK"]
        assert all(e["object"]["metadata"]["resourceVersion"] for e in marks)
        assert [(e["type"], h.short(e)) for e in seen if e["type"] != "BOOKMARK"] == [
            ("ADDED", "first")]
        await cluster.configmap("second", uid)  # the client that did not ask: events only
        assert await h.events_until(plain, 1) == [("ADDED", "second")]
        asked.close()
        plain.close()
    finally:
        server.bookmark_interval = interval
