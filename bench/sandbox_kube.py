"""Sandbox API server throughput: list and watch, so proxy benchmarks know it is not
their bottleneck. Run: .venv/bin/python -m bench.sandbox_kube"""
from __future__ import annotations

import asyncio
import json
import statistics
import time

import aiohttp

from odh_sandbox.kube import SandboxKubeServer

N_OBJECTS = 10_000
RUNS = 5


def _cm(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:05d}", "namespace": "bench",
                         "labels": {"app": "bench", "shard": str(i % 10)}},
            "data": {"key": "x" * 64, "index": str(i)}}


async def main() -> None:
    server = SandboxKubeServer()
    await server.start()
    try:
        store, api = server.store, server.api
        ns_rt = store.registry.types[("", "namespaces")]
        cm_rt = store.registry.types[("", "configmaps")]
        api.create(ns_rt, "", "v1", {"metadata": {"name": "bench"}}, False)
        for i in range(N_OBJECTS):
            api.create(cm_rt, "bench", "v1", _cm(i), False)
        headers = {"Authorization": f"Bearer {server.token('admin')}"}
        url = f"{server.http_url}/api/v1/namespaces/bench/configmaps"
        list_times = []
        async with aiohttp.ClientSession() as s:
            for _ in range(RUNS):
                t0 = time.perf_counter()
                async with s.get(url, headers=headers) as r:
                    body = await r.read()
                n = len(json.loads(body)["items"])
                list_times.append(time.perf_counter() - t0)
                assert n == N_OBJECTS
            sel_times = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                async with s.get(url, headers=headers,
                                 params={"labelSelector": "shard=3"}) as r:
                    await r.read()
                sel_times.append(time.perf_counter() - t0)
            # Watch: replay N events from a resourceVersion (server -> client throughput).
            watch_rates = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                seen = 0
                async with s.get(url, headers=headers, params={
                        "watch": "true", "resourceVersion": "1", "timeoutSeconds": "60"}) as r:
                    async for _line in r.content:
                        seen += 1
                        if seen == N_OBJECTS:
                            break
                watch_rates.append(seen / (time.perf_counter() - t0))
            # Live events: writes fanned out to one open watch.
            live_rates = []
            for run in range(RUNS):
                async with s.get(url, headers=headers, params={
                        "watch": "true", "allowWatchBookmarks": "true",
                        "resourceVersion": str(store.resource_version)}) as r:
                    await r.content.readline()  # the initial bookmark: the watch is open
                    t0 = time.perf_counter()
                    for i in range(2000):
                        api.replace(cm_rt, "bench", f"cm-{i:05d}", "v1",
                                    dict(_cm(i), data={"run": str(run)}), False)
                    seen = 0
                    async for _line in r.content:
                        seen += 1
                        if seen == 2000:
                            break
                    live_rates.append(seen / (time.perf_counter() - t0))
        med = statistics.median
        lt = med(list_times)
        print(f"sandbox_list_10k_seconds: {lt:.3f} s (target < 1.0)")
        print(f"sandbox_list_objects_per_s: {N_OBJECTS / lt:.0f} objects/s (target > 10000)")
        print(f"sandbox_list_selector_10k_seconds: {med(sel_times):.3f} s (target < 1.0)")
        print(f"sandbox_watch_events_per_s: {med(watch_rates):.0f} events/s (target > 10000)")
        print(f"sandbox_watch_live_events_per_s: {med(live_rates):.0f} events/s "
              "(target > 5000)")
    finally:
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
