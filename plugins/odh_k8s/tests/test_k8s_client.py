"""The official `kubernetes` Python client with `<odh-core>/api/k8s` as its host."""
from __future__ import annotations

import asyncio
from typing import Any

from kubernetes import client, watch

NS = "alice-project"


def make_api(url: str, token: str) -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = url + "/api/k8s"
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(cfg)


async def test_official_client_list_create_patch_delete_watch(odh_server, tokens, uid):
    api = make_api(odh_server.url, tokens["alice"])
    try:
        core = client.CoreV1Api(api)
        selector = f"client={uid}"
        listed = await asyncio.to_thread(core.list_namespaced_config_map, NS,
                                         label_selector=selector)
        assert listed.items == []
        rv = listed.metadata.resource_version

        def watch_until_deleted() -> list[tuple[str, str]]:
            seen: list[tuple[str, str]] = []
            w = watch.Watch()
            for ev in w.stream(core.list_namespaced_config_map, NS, label_selector=selector,
                               resource_version=rv, timeout_seconds=30):
                seen.append((ev["type"], ev["object"].data.get("v", "")
                             if ev["object"].data else ""))
                if ev["type"] == "DELETED":
                    w.stop()
            return seen

        # The watch starts from the list's resourceVersion: nothing below can be missed,
        # whenever the thread's request gets through.
        watching = asyncio.ensure_future(asyncio.to_thread(watch_until_deleted))
        name = f"client-{uid}"
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name,
                                                               labels={"client": uid}),
                                  data={"v": "1"})
        made = await asyncio.to_thread(core.create_namespaced_config_map, NS, body)
        assert made.metadata.name == name
        patched = await asyncio.to_thread(core.patch_namespaced_config_map, name, NS,
                                          {"data": {"v": "2"}})
        assert patched.data == {"v": "2"}
        got = await asyncio.to_thread(core.read_namespaced_config_map, name, NS)
        assert got.data == {"v": "2"}
        await asyncio.to_thread(core.delete_namespaced_config_map, name, NS)
        seen = await asyncio.wait_for(watching, 30)
        assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]

        forbidden: Any = None
        try:
            await asyncio.to_thread(core.list_namespaced_config_map, "bob-project")
        except client.ApiException as exc:
            forbidden = exc
        assert forbidden is not None and forbidden.status == 403
        assert forbidden.reason == "Forbidden"
    finally:
        await asyncio.to_thread(api.close)
