"""Watches when things go wrong: cut upstream watches, 410 relists, slow consumers, logs."""
from __future__ import annotations

import asyncio
import base64
import os
import socket
from typing import Any

import pytest

from watch_modes import ALL_MODES, INFORMER_MODES


@ALL_MODES
async def test_cut_upstream_watch_loses_no_event(h: Any, odh_server: Any, cluster: Any,
                                                 sandbox_kube: Any, uid: str) -> None:
    ws = await odh_server.ws(h.watch_path(uid), user="alice")
    await cluster.configmap("one", uid)
    assert await h.events_until(ws, 1) == [("ADDED", "one")]
    mode = odh_server.app.plugin("watch").config.mode
    opened = h.metric(odh_server, "odh_watch_upstream_opened_total", mode=mode)
    # Drop the TCP connection mid-stream, then change things before and while it resumes;
    # refusing connections for a moment makes the relay go through its backoff too.
    sandbox_kube.faults.cut_watches(r"/namespaces/alice-project/configmaps")
    await cluster.configmap("two", uid)
    await cluster.set_data("one", {"k": "v"})
    sandbox_kube.faults.refuse_connections(0.3)
    await h.until(lambda: h.metric(odh_server, "odh_watch_upstream_opened_total", mode=mode)
                  > opened)

    async def listening() -> bool:  # an informer may resume before the refusal: wait it out
        try:
            with socket.create_connection(("127.0.0.1", int(sandbox_kube.https_url
                                                              .rsplit(":", 1)[1])), 1):
                return True
        except OSError:
            return False

    await h.until(listening)
    await cluster.configmap("three", uid)
    await cluster.delete("two")
    assert await h.events_until(ws, 4) == [("ADDED", "two"), ("MODIFIED", "one"),
                                           ("ADDED", "three"), ("DELETED", "two")]
    assert ws.close_code is None  # the client never noticed
    ws.close()


@INFORMER_MODES
async def test_410_relist_sends_the_differences(h: Any, odh_server: Any, cluster: Any,
                                                sandbox_kube: Any, uid: str) -> None:
    ws = await odh_server.ws(h.watch_path(uid), user="alice")
    for name in ("gone", "changed", "same"):
        await cluster.configmap(name, uid)
    assert len(await h.events_until(ws, 3)) == 3
    # Hold the informer's reconnect (GET) for a while, cut its watch, change things while it
    # is away and compact the history: the resumed watch gets 410 and must relist.
    sandbox_kube.faults.add_latency(2.0, method="GET", path_regex=r"alice-project/configmaps",
                                    times=1)
    sandbox_kube.faults.cut_watches(r"/namespaces/alice-project/configmaps")
    await cluster.delete("gone")
    await cluster.set_data("changed", {"k": "new"})
    await cluster.configmap("new", uid)
    sandbox_kube.store.compact()
    got = [await h.next_event(ws) for _ in range(3)]
    assert sorted((e["type"], h.short(e)) for e in got) == [
        ("ADDED", "new"), ("DELETED", "gone"), ("MODIFIED", "changed")]
    assert next(e for e in got if e["type"] == "MODIFIED")["object"]["data"] == {"k": "new"}
    lists = [q for m, p, q in sandbox_kube.requests.snapshot()
             if m == "GET" and p.endswith("/configmaps") and uid in q and "watch=" not in q]
    assert len(lists) == 2  # the first list and the relist after 410
    # ...and then live events again, nothing more from the relist.
    await cluster.set_data("same", {"k": "live"})
    assert await h.events_until(ws, 1) == [("MODIFIED", "same")]
    ws.close()


def _raw_ws_connect(port: int, path: str, token: str) -> socket.socket:
    """A WebSocket client that never reads: a tiny receive buffer, the handshake, no more."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n")
                 .encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@pytest.mark.parametrize("watch_config", [{"mode": "shared", "max_pending_frames": 8,
                                           "max_pending_bytes": 512 * 1024}], ids=["shared"])
async def test_slow_consumer_is_dropped_while_others_keep_receiving(
        h: Any, odh_server: Any, cluster: Any, tokens: dict[str, str], uid: str) -> None:
    fast = await odh_server.ws(h.watch_path(uid), user="alice")
    slow = await asyncio.to_thread(_raw_ws_connect, odh_server.port, h.watch_path(uid),
                                   tokens["alice"])
    try:
        await h.until(lambda: h.metric(odh_server, "odh_watch_clients", mode="shared") == 2)
        await cluster.configmap("big", uid, {"v": "0"})
        assert await h.events_until(fast, 1) == [("ADDED", "big")]
        blob = "x" * (256 * 1024)
        updates = 40  # ~10 MiB: more than the kernel buffers and the 512 KiB bound together
        for i in range(updates):
            await cluster.set_data("big", {"v": str(i), "blob": blob})
            ev = await h.next_event(fast)  # the fast client keeps up, event by event
            assert (ev["type"], ev["object"]["data"]["v"]) == ("MODIFIED", str(i))
        await h.until(lambda: h.metric(odh_server, "odh_watch_slow_clients_dropped_total",
                                       mode="shared") == 1)
        await h.until(lambda: h.metric(odh_server, "odh_watch_clients", mode="shared") == 1,
                      timeout=20)
        await cluster.set_data("big", {"v": "after"})
        ev = await h.next_event(fast)
        assert ev["object"]["data"]["v"] == "after"
    finally:
        slow.close()
        fast.close()


async def test_log_follow_delivers_appended_lines(h: Any, odh_server: Any, cluster: Any,
                                                  sandbox_kube: Any, uid: str) -> None:
    pod = f"logger-{uid}"
    await cluster.call("POST", f"/api/v1/namespaces/{h.NS}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
    await asyncio.to_thread(sandbox_kube.append_log, h.NS, pod, "main", "old line")
    ws = await odh_server.ws(f"/wss/k8s/logs?namespace={h.NS}&pod={pod}&container=main"
                             "&follow=true&tailLines=5", user="alice")
    assert await asyncio.wait_for(ws.read_message(), 10) == "old line"
    for line in ("first", "second ünïcode", "third"):
        await asyncio.to_thread(sandbox_kube.append_log, h.NS, pod, "main", line)
    assert [await asyncio.wait_for(ws.read_message(), 10) for _ in range(3)] == [
        "first", "second ünïcode", "third"]
    # A broken upstream stream is resumed without repeating or losing lines.
    opened = h.metric(odh_server, "odh_watch_upstream_opened_total", mode="logs")
    sandbox_kube.faults.cut_watches(rf"/pods/{pod}/log")
    await h.until(lambda: h.metric(odh_server, "odh_watch_upstream_opened_total", mode="logs")
                  > opened)
    await asyncio.to_thread(sandbox_kube.append_log, h.NS, pod, "main", "after the cut")
    assert await asyncio.wait_for(ws.read_message(), 10) == "after the cut"
    ws.close()
    # bob may not read alice's pod logs: refused before the upgrade.
    from tornado.httpclient import HTTPClientError
    with pytest.raises(HTTPClientError) as err:
        await odh_server.ws(f"/wss/k8s/logs?namespace={h.NS}&pod={pod}", user="bob")
    assert err.value.code == 403
