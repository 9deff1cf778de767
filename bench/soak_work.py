"""The soak suite's workload: each worker loops until `stop` is set and records every
request's outcome in a shared `Tally` (one per run, owned by the caller, no module state).

Outcome causes:
- ok                      2xx (or the expected 404 of a deliberately missing object)
- kube_injected           the sandbox API server answered with an injected fault, relayed
- s3_restart              an S3 call failed while (or just after) moto was restarting
- s3_data_lost_on_restart a download 404 for an object stored before a restart (moto keeps
                          objects in memory: the restart forgets them; not odh-core's fault)
- client_abort            the workload cut its own upload on purpose
- unexpected              anything else (listed with samples in the report)
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import aiohttp

MiB = 1024 * 1024
NS = "alice-project"


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)
    s3_restarts: list[tuple[float, float]] = field(default_factory=list)  # (start, end)
    kube_fault_until: float = 0.0
    watch_reconnects: int = 0
    hf_imports: Counter[str] = field(default_factory=Counter)
    hf_takeovers: int = 0  # imports finished by another replica than the one that began

    def s3_epoch(self) -> int:
        return len(self.s3_restarts)

    def s3_restarting(self, since: float) -> bool:
        """Did a restart overlap [since - grace, now]?"""
        now = time.monotonic()
        return any(start <= now and (end == 0.0 or end + 5.0 >= since)
                   for start, end in self.s3_restarts)

    def record(self, kind: str, cause: str, detail: str = "") -> None:
        self.by_kind[kind] += 1
        self.outcomes[cause] += 1
        if cause == "unexpected" and len(self.samples) < 20:
            self.samples.append(f"{kind}: {detail}"[:300])


def b64(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _kube_injected(body: bytes) -> bool:
    return b"injected fault" in body


# -- k8s proxy reads -----------------------------------------------------------------------

async def k8s_reader(http: aiohttp.ClientSession, base: str, token: str, tally: Tally,
                     stop: asyncio.Event, label: str) -> None:
    paths = [f"/api/k8s/api/v1/namespaces/{NS}/configmaps?labelSelector=soak%3D{label}",
             f"/api/k8s/api/v1/namespaces/{NS}/pods", f"/api/k8s/api/v1/namespaces/{NS}"]
    hdrs = {"Authorization": f"Bearer {token}"}
    n = 0
    while not stop.is_set():
        path = paths[n % len(paths)]
        n += 1
        try:
            async with http.get(base + path, headers=hdrs) as resp:
                body = await resp.read()
                if resp.status == 200:
                    json.loads(body)
                    tally.record("k8s_read", "ok")
                elif _kube_injected(body):
                    tally.record("k8s_read", "kube_injected")
                else:
                    tally.record("k8s_read", "unexpected", f"{resp.status} {body[:120]!r}")
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            tally.record("k8s_read", "unexpected", repr(exc))
        await asyncio.sleep(0.01)


# -- watches: subscribers through odh-core, changes straight on the API server -------------

@dataclass
class Subscriber:
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    last_rv: str = ""


def event_key(ev: dict[str, Any]) -> tuple[str, str, str]:
    obj = ev.get("object") or {}
    name = obj.get("metadata", {}).get("name", "")
    version = "" if ev.get("type") == "DELETED" else (obj.get("data") or {}).get("v", "")
    return (str(ev.get("type")), name, version)


async def subscriber(http: aiohttp.ClientSession, ws_base: str, token: str, label: str,
                     sub: Subscriber, tally: Tally, stop: asyncio.Event,
                     ready: asyncio.Event) -> None:
    """Follow the label's ConfigMaps; reconnect from the last resourceVersion if odh-core
    ever closes the socket (it should not need to: it resumes upstream cuts itself)."""
    path = (f"{ws_base}/wss/k8s/api/v1/namespaces/{NS}/configmaps?watch=true"
            f"&labelSelector=soak%3D{label}")
    while not stop.is_set():
        url = path + (f"&resourceVersion={sub.last_rv}" if sub.last_rv else "")
        try:
            async with http.ws_connect(url, headers={"Authorization": f"Bearer {token}"},
                                       heartbeat=30) as ws:
                ready.set()
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    ev = json.loads(msg.data)
                    if ev.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        sub.seen.add(event_key(ev))
                        sub.last_rv = ev["object"]["metadata"].get("resourceVersion", sub.last_rv)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            tally.record("watch_connect", "unexpected", repr(exc))
        if not stop.is_set():
            tally.watch_reconnects += 1
            await asyncio.sleep(0.2)


class Mutator:
    """Creates, patches and deletes labelled ConfigMaps as alice on the API server itself,
    remembering every change each subscriber must see."""

    def __init__(self, http: aiohttp.ClientSession, api: str, token: str, label: str):
        self.http, self.api, self.label = http, api, label
        self.hdrs = {"Authorization": f"Bearer {token}"}
        self.expected: set[tuple[str, str, str]] = set()
        self.live: dict[str, int] = {}
        self.serial = 0

    async def _call(self, method: str, path: str, body: Any, ctype: str) -> bool:
        async with self.http.request(method, self.api + path, data=json.dumps(body),
                                     headers={**self.hdrs, "Content-Type": ctype}) as r:
            await r.read()
            return r.status < 300

    async def create(self, name: str | None = None) -> str:
        self.serial += 1
        name = name or f"soak-{self.label}-{self.serial}"
        ok = await self._call("POST", f"/api/v1/namespaces/{NS}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"soak": self.label}}, "data": {"v": "0"}},
            "application/json")
        if ok:
            self.live[name] = 0
            self.expected.add(("ADDED", name, "0"))
        return name

    async def step(self) -> None:
        roll = random.random()
        if not self.live or (roll < 0.35 and len(self.live) < 30):
            await self.create()
        elif roll < 0.8:
            name = random.choice(list(self.live))
            v = self.live[name] + 1
            if await self._call("PATCH", f"/api/v1/namespaces/{NS}/configmaps/{name}",
                                {"data": {"v": str(v)}}, "application/merge-patch+json"):
                self.live[name] = v
                self.expected.add(("MODIFIED", name, str(v)))
        else:
            name = random.choice(list(self.live))
            if await self._call("DELETE", f"/api/v1/namespaces/{NS}/configmaps/{name}", {},
                                "application/json"):
                del self.live[name]
                self.expected.add(("DELETED", name, ""))

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                await self.step()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass  # a change that did not happen is not expected either
            await asyncio.sleep(interval)


# -- S3 through odh-core --------------------------------------------------------------------

async def _chunks(data: bytes, size: int = MiB, cut_after: int | None = None
                  ) -> AsyncIterator[bytes]:
    for off in range(0, len(data), size):
        if cut_after is not None and off >= cut_after:
            raise ConnectionAbortedError("soak: deliberate client abort")
        yield data[off:off + size]
        await asyncio.sleep(0)


async def upload(http: aiohttp.ClientSession, base: str, hdrs: dict[str, str], bucket: str,
                 key: str, data: bytes, cut_after: int | None = None) -> tuple[int, bytes]:
    boundary = "soakboundary7f3a"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"x.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        async for c in _chunks(data, cut_after=cut_after):
            yield c
        yield tail

    async with http.post(f"{base}/api/objects/upload/{bucket}/{b64(key)}", data=body(),
                         headers={**hdrs, "Content-Type":
                                  f"multipart/form-data; boundary={boundary}",
                                  "Content-Length": str(len(head) + len(data) + len(tail))}
                         ) as resp:
        return resp.status, await resp.read()


async def download_sha(http: aiohttp.ClientSession, base: str, hdrs: dict[str, str],
                       bucket: str, key: str) -> tuple[int, str, bytes]:
    async with http.get(f"{base}/api/objects/download/{bucket}/{b64(key)}",
                        headers=hdrs) as resp:
        if resp.status != 200:
            return resp.status, "", await resp.read()
        h = hashlib.sha256()
        async for chunk in resp.content.iter_chunked(MiB):
            h.update(chunk)
        return 200, h.hexdigest(), b""


async def s3_worker(http: aiohttp.ClientSession, base: str, token: str, bucket: str,
                    tally: Tally, stop: asyncio.Event, wid: int, max_mib: int) -> None:
    hdrs = {"Authorization": f"Bearer {token}"}
    n = 0
    while not stop.is_set():
        n += 1
        size = random.choice([random.randint(1, 256 * 1024), random.randint(MiB, max_mib * MiB)])
        data = os.urandom(size)
        want = hashlib.sha256(data).hexdigest()
        key = f"soak/w{wid}/{n}.bin"
        abort = n % 7 == 0 and size > 2 * MiB  # every 7th big one: the client walks away
        since, epoch = time.monotonic(), tally.s3_epoch()
        try:
            status, body = await upload(http, base, hdrs, bucket, key, data,
                                        cut_after=size // 2 if abort else None)
        except (aiohttp.ClientError, ConnectionAbortedError, asyncio.TimeoutError) as exc:
            if abort:
                tally.record("s3_upload", "client_abort")
            elif tally.s3_restarting(since):
                tally.record("s3_upload", "s3_restart")
            else:
                tally.record("s3_upload", "unexpected", repr(exc))
            continue
        if status != 200:
            cause = "s3_restart" if tally.s3_restarting(since) else "unexpected"
            tally.record("s3_upload", cause, f"{status} {body[:160]!r}")
            continue
        tally.record("s3_upload", "ok")
        since = time.monotonic()
        try:
            status, got, body = await download_sha(http, base, hdrs, bucket, key)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            cause = "s3_restart" if tally.s3_restarting(since) else "unexpected"
            tally.record("s3_download", cause, repr(exc))
            continue
        if status == 200:
            if got != want:
                tally.corrupted.append(f"{key} ({size} bytes)")
            tally.record("s3_download", "ok")
        elif status == 404 and tally.s3_epoch() != epoch:
            tally.record("s3_download", "s3_data_lost_on_restart")
        else:
            cause = "s3_restart" if tally.s3_restarting(since) else "unexpected"
            tally.record("s3_download", cause, f"{status} {body[:160]!r}")
        try:  # keep moto's memory bounded
            async with http.delete(f"{base}/api/objects/{bucket}/{b64(key)}",
                                   headers=hdrs) as resp:
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass


# -- Hugging Face imports -------------------------------------------------------------------

async def hf_importer(http: aiohttp.ClientSession, base: str, token: str, bucket: str,
                      repo: str, files: dict[str, str], tally: Tally, stop: asyncio.Event,
                      arm_drop: Any) -> None:
    """Import `repo` again and again (a hub drop armed on every other run), then check every
    imported object's sha256 against the hub's."""
    hdrs = {"Authorization": f"Bearer {token}"}
    n = 0
    while not stop.is_set():
        n += 1
        if n % 2 == 1:
            arm_drop()
        prefix = f"hf/{n}/"
        since, epoch = time.monotonic(), tally.s3_epoch()
        try:
            async with http.post(f"{base}/api/hf/imports", headers=hdrs, json={
                    "repo": repo, "bucket": bucket, "prefix": prefix,
                    "include": list(files)}) as resp:
                body = await resp.json(content_type=None)
                if resp.status >= 300:
                    tally.record("hf_import", "unexpected", f"{resp.status} {body}")
                    tally.hf_imports["failed"] += 1
                    await asyncio.sleep(1)
                    continue
            job_id = body["data"]["id"]
            last: dict[str, Any] = {}
            async with http.get(f"{base}/api/hf/imports/{job_id}/events", headers=hdrs,
                                timeout=aiohttp.ClientTimeout(total=300)) as resp:
                async for raw in resp.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("data: "):
                        last = json.loads(line[6:])
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as exc:
            tally.record("hf_import", "unexpected", repr(exc))
            tally.hf_imports["failed"] += 1
            continue
        status = last.get("status")
        if status != "completed":
            cause = "s3_restart" if tally.s3_restarting(since) else "unexpected"
            tally.record("hf_import", cause, f"{status}: {last.get('error')}")
            tally.hf_imports["failed"] += 1
            continue
        tally.record("hf_import", "ok")
        tally.hf_imports["completed"] += 1
        tally.hf_takeovers += int(last.get("takeovers") or 0)
        for path, want in files.items():
            key = f"{prefix}{repo}/{path}"  # where an import puts a file
            st, got, body = await download_sha(http, base, hdrs, bucket, key)
            if st == 200 and got != want:
                tally.corrupted.append(f"hf {prefix}{path}")
            elif st == 404 and tally.s3_epoch() != epoch:
                tally.record("s3_download", "s3_data_lost_on_restart")
            elif st != 200:
                tally.record("s3_download", "s3_restart" if tally.s3_restarting(since)
                             else "unexpected", f"hf verify {st} {body[:120]!r}")
            else:
                tally.record("s3_download", "ok")
            async with http.delete(f"{base}/api/objects/{bucket}/{b64(key)}",
                                   headers=hdrs) as resp:
                await resp.read()
