"""Watch (replay, live, bookmarks, 410, selectors, timeouts) and pod logs, sync and aio."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from kubernetes import client, watch
from kubernetes.aio import client as aclient
from kubernetes.aio import watch as awatch

from .conftest import cm


def aio_config(kube, user: str = "admin") -> aclient.Configuration:
    cfg = aclient.Configuration(host=kube.http_url)
    cfg.api_key = {"authorization": kube.token(user)}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    return cfg


def test_watch_replays_from_resource_version_with_bookmark(core: client.CoreV1Api,
                                                           ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, cm("w1"))
    core.patch_namespaced_config_map("w1", ns, {"data": {"a": "1"}})
    core.delete_namespaced_config_map("w1", ns)
    w = watch.Watch()
    seen = []
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv,
                       allow_watch_bookmarks=True, timeout_seconds=20):
        seen.append(ev)
        if ev["type"] == "BOOKMARK":
            w.stop()
    assert [e["type"] for e in seen] == ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
    rvs = [int(e["raw_object"]["metadata"]["resourceVersion"]) for e in seen]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    assert seen[1]["object"].data == {"a": "1"}
    bookmark = seen[-1]["raw_object"]
    assert set(bookmark["metadata"]) == {"resourceVersion"}
    assert bookmark["kind"] == "ConfigMap"


def test_watch_without_resource_version_lists_first(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, cm("a"))
    core.create_namespaced_config_map(ns, cm("b"))
    w = watch.Watch()
    names = []
    for ev in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=20,
                       allow_watch_bookmarks=True):
        if ev["type"] == "BOOKMARK":
            break
        names.append((ev["type"], ev["object"].metadata.name))
    w.stop()
    assert names == [("ADDED", "a"), ("ADDED", "b")]


def test_too_old_resource_version_is_410_error_event(kube, core: client.CoreV1Api,
                                                     ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, cm("x"))
    kube.store.compact()
    resp = core.list_namespaced_config_map(ns, watch=True, resource_version=rv,
                                           timeout_seconds=20, _preload_content=False)
    try:
        assert resp.status == 200  # the error is an event, not an HTTP status
        lines = [ln for ln in resp.data.decode().splitlines() if ln]
    finally:
        resp.release_conn()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "ERROR"
    st = event["object"]
    assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired"
    assert st["message"].startswith(f"too old resource version: {rv} (")
    with pytest.raises(client.ApiException) as e:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version=rv,
                                      timeout_seconds=20):
            pass
    assert e.value.status == 410


def test_selector_transitions_and_timeout(core: client.CoreV1Api, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, cm("s", {"app": "x"}))
    core.patch_namespaced_config_map("s", ns, {"metadata": {"labels": {"app": "y"}}})
    core.create_namespaced_config_map(ns, cm("other", {"app": "z"}))
    core.patch_namespaced_config_map("s", ns, {"metadata": {"labels": {"app": "x"}}})
    # timeoutSeconds=1 ends the stream by itself once the replay is delivered.
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, ns, resource_version=rv, label_selector="app=x",
        timeout_seconds=1)]
    assert events == [("ADDED", "s"), ("DELETED", "s"), ("ADDED", "s")]


async def test_aio_watch_live_events_and_capital_true(kube, core: client.CoreV1Api,
                                                      ns: str) -> None:
    async with aclient.ApiClient(aio_config(kube)) as api:
        v1 = aclient.CoreV1Api(api)
        w = awatch.Watch()
        got: list[tuple[str, str]] = []
        stream = w.stream(v1.list_namespaced_config_map, ns, timeout_seconds=20,
                          allow_watch_bookmarks=True)
        try:
            async for ev in stream:
                if ev["type"] == "BOOKMARK" and not got:
                    await asyncio.to_thread(core.create_namespaced_config_map, ns, cm("live"))
                    got.append(("START", ""))
                    continue
                got.append((ev["type"], ev["object"].metadata.name))
                if ev["type"] == "ADDED":
                    break
        finally:
            await w.close()
        assert got == [("START", ""), ("ADDED", "live")]
    # kubernetes_asyncio sends watch=True: booleans are case-insensitive.
    url = f"{kube.http_url}/api/v1/namespaces/{ns}/configmaps"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, params={"watch": "True", "timeoutSeconds": "1"},
                         headers={"Authorization": f"Bearer {kube.token('admin')}"}) as r:
            assert r.status == 200
            first = json.loads(await r.content.readline())
            assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "live"


def _pod(core: client.CoreV1Api, ns: str, name: str, containers: list[str]) -> None:
    core.create_namespaced_pod(ns, {"metadata": {"name": name}, "spec": {
        "containers": [{"name": c, "image": "x"} for c in containers]}})


def test_logs_tail_timestamps_and_container(kube, core: client.CoreV1Api, ns: str) -> None:
    _pod(core, ns, "logger", ["main"])
    for i in range(5):
        kube.append_log(ns, "logger", "main", f"line {i}")
    assert core.read_namespaced_pod_log("logger", ns) == "".join(
        f"line {i}\n" for i in range(5))
    assert core.read_namespaced_pod_log("logger", ns, tail_lines=2) == "line 3\nline 4\n"
    stamped = core.read_namespaced_pod_log("logger", ns, tail_lines=1, timestamps=True)
    stamp, _, text = stamped.rstrip("\n").partition(" ")
    assert text == "line 4" and stamp.endswith("Z") and "T" in stamp
    _pod(core, ns, "two", ["a", "b"])
    kube.append_log(ns, "two", "b", "from b")
    assert core.read_namespaced_pod_log("two", ns, container="b") == "from b\n"
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_pod_log("two", ns)
    assert e.value.status == 400 and "a container name must be specified" in e.value.body
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_pod_log("nope", ns)
    assert e.value.status == 404


async def test_logs_follow(kube, core: client.CoreV1Api, ns: str) -> None:
    await asyncio.to_thread(_pod, core, ns, "follower", ["c"])
    await asyncio.to_thread(kube.append_log, ns, "follower", "c", "before")
    async with aclient.ApiClient(aio_config(kube)) as api:
        v1 = aclient.CoreV1Api(api)
        resp = await v1.read_namespaced_pod_log_without_preload_content(
            "follower", ns, follow=True)
        try:
            assert await resp.content.readline() == b"before\n"
            await asyncio.to_thread(kube.append_log, ns, "follower", "c", "after")
            assert await resp.content.readline() == b"after\n"
            # Deleting the pod ends the stream.
            await asyncio.to_thread(core.delete_namespaced_pod, "follower", ns)
            assert await resp.content.read() == b""
        finally:
            resp.release()


async def test_cut_watches_drops_the_stream(kube, ns: str) -> None:
    url = f"{kube.http_url}/api/v1/namespaces/{ns}/configmaps"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, params={"watch": "true", "allowWatchBookmarks": "true"},
                         headers={"Authorization": f"Bearer {kube.token('admin')}"}) as r:
            first = json.loads(await r.content.readline())
            assert first["type"] == "BOOKMARK"
            await asyncio.to_thread(kube.faults.cut_watches, ns)
            with pytest.raises(aiohttp.ClientPayloadError):
                await r.content.read()
