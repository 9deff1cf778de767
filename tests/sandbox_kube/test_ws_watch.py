"""Watches over WebSocket, as the Node dashboard backend and browsers open them: the token in
the `base64url.bearer.authorization.k8s.io.` subprotocol, one JSON event per message."""
from __future__ import annotations

import asyncio
import base64
import json
import ssl
import uuid
from typing import Any

import aiohttp
import pytest

BEARER = "base64url.bearer.authorization.k8s.io."


def _proto(token: str) -> str:
    return BEARER + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def _ssl(kube: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=kube.ca_file)


async def _events(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < n:
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        out.append(json.loads(msg.data))
    return out


async def test_watch_with_the_token_in_the_subprotocol(kube: Any) -> None:
    ns = "alice-project"
    name = f"ws-{uuid.uuid4().hex[:8]}"
    url = (kube.https_url.replace("https", "wss") +
           f"/api/v1/namespaces/{ns}/configmaps?watch=true&fieldSelector=metadata.name%3D{name}"
           "&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan")
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, ssl=_ssl(kube), protocols=(
                _proto(kube.token("alice")), "base64.binary.k8s.io")) as ws:
            assert ws.protocol == "base64.binary.k8s.io"  # never the token
            first = await _events(ws, 1)
            assert first[0]["type"] == "BOOKMARK"
            assert first[0]["object"]["metadata"]["annotations"] == {
                "k8s.io/initial-events-end": "true"}
            kube.call(kube.server.api.create, kube.server.store.registry.types[("", "configmaps")],
                      ns, "v1", {"metadata": {"name": name}, "data": {"a": "1"}}, False)
            ev = (await _events(ws, 1))[0]
            assert ev["type"] == "ADDED" and ev["object"]["data"] == {"a": "1"}
            assert ev["object"]["apiVersion"] == "v1"
    kube.call(kube.server.api.delete, kube.server.store.registry.types[("", "configmaps")], ns,
              name, "v1", {}, False)


@pytest.mark.parametrize("who,path,status", [
    (None, "/api/v1/namespaces/alice-project/configmaps?watch=true", 403),
    ("bad-token", "/api/v1/namespaces/alice-project/configmaps?watch=true", 401),
    ("bob", "/api/v1/namespaces/alice-project/configmaps?watch=true", 403),
    ("alice", "/api/v1/namespaces/alice-project/configmaps", 400),
    ("alice", "/api/v1/namespaces/alice-project/nothings?watch=true", 404),
    ("alice", "/api/v1/namespaces/alice-project/pods/raycluster-demo-head/exec?command=ls",
     400),
])
async def test_refusals_are_statuses_before_the_upgrade(kube: Any, who: str | None, path: str,
                                                        status: int) -> None:
    protocols = ["v4.channel.k8s.io"]
    if who is not None:
        protocols.insert(0, _proto(kube.token(who) if who != "bad-token" else "nope"))
    url = kube.https_url.replace("https", "wss") + path
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await s.ws_connect(url, ssl=_ssl(kube), protocols=protocols)
        assert e.value.status == status
