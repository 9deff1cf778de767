"""Watch benchmark (issues 5 and 22): the dashboard's shape, in the three watch modes.

    .venv/bin/python -m bench.watch [users] [sockets_per_resource]

100 users x 5 resources x 4 sockets each (2,000 WebSockets by default), as when 100 people
have a dashboard page open: every user watches the same 5 collections of one project
(ConfigMaps, Pods, Services and PVCs, which odh-core's service account may watch, and Secrets,
which it may not). Per mode (auto, shared, per-user):

- upstream watches open at rest (odh-core's own gauge);
- RSS per idle socket (the server's, from /proc, over all sockets after the first per key);
- latency from an object change to the *last* of its subscribers receiving it (p50/p99 over
  rounds of one change per resource);
- events lost across a forced upstream cut and across a 410 (cut, changes, compaction: the
  informers relist).

Shared mode refuses a key its service account may not watch, so for that run the bench lets
the service account watch the project's Secrets; auto and per-user run without that grant.
The sandbox API server and odh-core each run in a child process; the clients run here.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import ssl
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import yaml

from .common import PYTHON, ROOT, Child, free_port, report, rss_bytes
from .watch_servers import raise_nofile

NS, NAME = "bench-watch", "bench-obj"
# (API path prefix, plural, minimal body): the five collections every user watches.
RESOURCES = [
    ("/api/v1", "configmaps", {"kind": "ConfigMap", "data": {"k": "v"}}),
    ("/api/v1", "pods", {"kind": "Pod", "spec": {"containers": [{"name": "c",
                                                                 "image": "busybox"}]}}),
    ("/api/v1", "services", {"kind": "Service", "spec": {"ports": [{"port": 80}]}}),
    ("/api/v1", "persistentvolumeclaims", {"kind": "PersistentVolumeClaim", "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    ("/api/v1", "secrets", {"kind": "Secret", "stringData": {"k": "v"}}),
]
ROUNDS = 4
BATCH = 50
MODES = ("auto", "shared", "per-user")


def start_sandbox(tmp: Path) -> tuple[Child, dict[str, Any]]:
    info = tmp / "sandbox.json"
    child = Child([PYTHON, "-m", "bench.watch_servers", "sandbox", str(info)], cwd=str(ROOT),
                  log=tmp / "sandbox.log")
    deadline = time.monotonic() + 60
    while not info.exists():
        if time.monotonic() > deadline or child.proc.poll() is not None:
            raise RuntimeError(f"the sandbox did not start; see {tmp / 'sandbox.log'}")
        time.sleep(0.05)
    return child, json.loads(info.read_text())


def write_odh_config(path: Path, sb: dict[str, Any], mode: str) -> Path:
    """odh-core with only the watch plugin, in `mode`, on the sandbox."""
    cfg = {"kubernetes": {"host": sb["https_url"], "ca_file": sb["ca_file"],
                          "token": sb["tokens"]["odh-core"]},
           "sandbox": {"mode": "off"}, "plugin_autoload": False,
           "logging": {"access_log": False},
           "plugins": {"watch": {"enabled": True, "mode": mode, "linger_seconds": 30}}}
    path.write_text(yaml.safe_dump(cfg))
    return path


async def until_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def metric(port: int, name: str, mode: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf'{name}{{mode="{mode}"}} ([0-9.e+]+)', text)
    return float(m.group(1)) if m else 0.0


class RawWebSocket(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455) on a raw asyncio transport.

    Two thousand Tornado clients in one Python process spend ~100 us per frame in coroutine
    hops, on the same two cores as the server: the benchmark would mostly time itself. This
    one parses frames in one pass per read and answers pings, nothing else.
    """

    def __init__(self, group: "Group", host: str, path: str, token: str):
        self.group, self.host, self.path, self.token = group, host, path, token
        self.transport: asyncio.Transport | None = None
        self.upgraded = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.seen = ""  # the last "seq" this socket saw

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         f"Authorization: Bearer {self.token}\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded.done():
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(RuntimeError(head[:200].decode(errors="replace")))
                return
            self.upgraded.set_result(None)
            self.buf = rest
        buf, pos = self.buf, 0
        while len(buf) - pos >= 2:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if len(buf) - start < 2:
                    break
                length, start = int.from_bytes(buf[start:start + 2], "big"), start + 2
            elif length == 127:
                if len(buf) - start < 8:
                    break
                length, start = int.from_bytes(buf[start:start + 8], "big"), start + 8
            if len(buf) - start < length:
                break
            payload = buf[start:start + length]
            pos = start + length
            if opcode == 0x9 and self.transport is not None:  # ping -> masked pong
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                self.group.closed += 1
            elif opcode in (0x1, 0x2):
                self.group.on_message(self, payload)
        self.buf = buf[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed before the upgrade"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


_SEQ = re.compile(rb'"seq":"([^"]+)"')


class Group:
    """The sockets of one resource; marks when each saw the frame carrying `"seq":"<n>"`."""

    def __init__(self) -> None:
        self.conns: list[RawWebSocket] = []
        self.initial = 0
        self.expect = ""
        self.seen = 0
        self.last_at = 0.0
        self.all_seen = asyncio.Event()
        self.closed = 0

    def on_message(self, ws: RawWebSocket, raw: bytes) -> None:
        m = _SEQ.search(raw)
        if m is None:
            return
        seq = m.group(1).decode()
        if seq == "init" and not ws.seen:
            ws.seen = seq
            self.initial += 1
        elif seq == self.expect and ws.seen != seq:
            ws.seen = seq
            self.seen += 1
            if self.seen == len(self.conns):
                self.last_at = time.perf_counter()
                self.all_seen.set()

    def arm(self, seq: str) -> None:
        self.expect, self.seen, self.all_seen = seq, 0, asyncio.Event()

    def close(self) -> None:
        for c in self.conns:
            c.close()


async def connect(group: Group, url: str, tokens: list[str]) -> None:
    parsed = urlsplit(url)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    loop = asyncio.get_running_loop()

    async def one(token: str) -> None:
        _, proto = await loop.create_connection(
            lambda: RawWebSocket(group, parsed.netloc, path, token), parsed.hostname,
            parsed.port)
        await asyncio.wait_for(proto.upgraded, 60)
        group.conns.append(proto)

    for start in range(0, len(tokens), BATCH):
        await asyncio.gather(*(one(t) for t in tokens[start:start + BATCH]))


class Cluster:
    def __init__(self, session: aiohttp.ClientSession, sb: dict[str, Any]):
        self.session, self.url, self.sb = session, sb["https_url"], sb

    async def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (),
                   content_type: str = "application/json") -> None:
        hdrs = {"Authorization": f"Bearer {self.sb['tokens']['admin']}",
                "Content-Type": content_type}
        async with self.session.request(method, self.url + path, data=json.dumps(body),
                                        headers=hdrs) as r:
            assert r.status < 300 or r.status in ok, (method, path, r.status, await r.text())

    async def change(self, plural: str, seq: str) -> None:
        await self.call("PATCH", f"/api/v1/namespaces/{NS}/{plural}/{NAME}",
                        {"metadata": {"annotations": {"seq": seq}}},
                        content_type="application/merge-patch+json")

    async def fault(self, what: str, **params: Any) -> None:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        async with self.session.post(f"{self.sb['control_url']}/fault/{what}?{query}") as r:
            assert r.status == 200

    async def setup(self) -> None:
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        await self.call("POST", "/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, ok=(409,))
        await self.call("POST", f"{rbac}/namespaces/{NS}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "bench-watchers"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                          "name": self.sb["group"]}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "edit"}}, ok=(409,))
        await self.call("POST", f"{rbac}/namespaces/{NS}/roles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "odh-core-secrets"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"],
                       "verbs": ["get", "list", "watch"]}]}, ok=(409,))
        for prefix, plural, body in RESOURCES:
            await self.call("POST", f"{prefix}/namespaces/{NS}/{plural}", {
                "apiVersion": "v1", "metadata": {"name": NAME, "annotations": {"seq": "init"}},
                **body}, ok=(409,))

    async def service_account_secrets(self, grant: bool) -> None:
        path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings"
        if grant:
            await self.call("POST", path, {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "odh-core-secrets"},
                "subjects": [{"kind": "ServiceAccount", "name": "odh-core",
                              "namespace": "opendatahub"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": "odh-core-secrets"}}, ok=(409,))
        else:
            await self.call("DELETE", f"{path}/odh-core-secrets", ok=(404,))


async def deliver(cluster: Cluster, groups: dict[str, Group], seq: str,
                  timeout: float = 30) -> tuple[list[float], int]:
    """One change per resource, one after the other: latency to the last subscriber of each,
    and how many subscribers never got theirs within `timeout`."""
    lat, lost = [], 0
    for plural, group in groups.items():
        group.arm(seq)
        t0 = time.perf_counter()
        await cluster.change(plural, seq)
        try:
            await asyncio.wait_for(group.all_seen.wait(), timeout)
            lat.append((group.last_at - t0) * 1000)
        except asyncio.TimeoutError:
            lost += len(group.conns) - group.seen
    return lat, lost


async def deliver_all(cluster: Cluster, groups: dict[str, Group], seq: str,
                      timeout: float = 30) -> int:
    """Change every resource at once (while the upstreams are away); subscribers missing it."""
    for group in groups.values():
        group.arm(seq)
    for plural in groups:
        await cluster.change(plural, seq)
    try:
        await asyncio.wait_for(asyncio.gather(*(g.all_seen.wait() for g in groups.values())),
                               timeout)
    except asyncio.TimeoutError:
        pass
    return sum(len(g.conns) - g.seen for g in groups.values())


async def run_mode(mode: str, users: int, per: int, tmp: Path, sb: dict[str, Any],
                   cluster: Cluster) -> dict[str, float]:
    path = write_odh_config(tmp / f"{mode}.yaml", sb, mode)
    port = free_port()
    await cluster.service_account_secrets(grant=mode == "shared")
    for plural in (r[1] for r in RESOURCES):
        await cluster.change(plural, "init")
    tokens = list(sb["users"].values())[:users]
    with Child([PYTHON, "-m", "bench.watch_servers", "odh", str(path), str(port)],
               cwd=str(ROOT), log=tmp / f"odh-{mode}.log") as child:
        await until_healthy(port)
        groups: dict[str, Group] = {}
        urls = {}
        for prefix, plural, _ in RESOURCES:
            groups[plural] = Group()
            urls[plural] = (f"ws://127.0.0.1:{port}/wss/k8s{prefix}/namespaces/{NS}/{plural}"
                            f"?watch=true&fieldSelector=metadata.name%3D{NAME}")
        # One socket per resource first: the code paths (and, shared, the informers) exist
        # before the baseline.
        for plural, group in groups.items():
            await connect(group, urls[plural], tokens[:1])
        while sum(g.initial for g in groups.values()) < len(groups):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        rss0 = rss_bytes(child.pid)
        first = len(groups)
        for plural, group in groups.items():
            # user 0 has one socket already; every user ends with `per` on each resource
            await connect(group, urls[plural], tokens[:1] * (per - 1) + tokens[1:] * per)
        total = sum(len(g.conns) for g in groups.values())
        deadline = time.monotonic() + 180
        while sum(g.initial for g in groups.values()) < total:
            if time.monotonic() > deadline:
                raise RuntimeError("not every socket got its initial state")
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)  # idle: the initial frames are flushed
        rss1 = rss_bytes(child.pid)
        upstream = metric(port, "odh_watch_upstream_watches", mode)
        lat: list[float] = []
        lost = 0
        for i in range(ROUNDS):
            got, missing = await deliver(cluster, groups, f"r{i}")
            lat += got
            lost += missing
        out = {"sockets": total, "upstream": upstream, "rss_kib": (rss1 - rss0) / (total - first)
               / 1024, "lost": lost}
        await cluster.fault("cut", path=f"/namespaces/{NS}/")
        out["lost_cut"] = await deliver_all(cluster, groups, "cut")
        # Hold the reconnects, cut, change while away, compact: every resume gets 410.
        await cluster.fault("latency", seconds=1.5, path=f"/namespaces/{NS}/",
                            times=int(upstream) + 10)
        await cluster.fault("cut", path=f"/namespaces/{NS}/")
        for g in groups.values():
            g.arm("gone")
        for plural in groups:
            await cluster.change(plural, "gone")
        await cluster.fault("compact")
        try:
            await asyncio.wait_for(asyncio.gather(
                *(g.all_seen.wait() for g in groups.values())), 60)
        except asyncio.TimeoutError:
            pass
        out["lost_410"] = sum(len(g.conns) - g.seen for g in groups.values())
        out["closed"] = sum(g.closed for g in groups.values())
        for g in groups.values():
            g.close()
    lat.sort()
    out["p50"] = statistics.median(lat)
    out["p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return out


@contextlib.asynccontextmanager
async def prepared_sandbox(prefix: str) -> AsyncIterator[tuple[Path, dict[str, Any], Cluster]]:
    """The sandbox in a child process, its bench namespace, users and objects set up."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    sandbox, sb = start_sandbox(tmp)
    try:
        ctx = ssl.create_default_context(cafile=sb["ca_file"])
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            cluster = Cluster(session, sb)
            await cluster.setup()
            yield tmp, sb, cluster
    finally:
        sandbox.stop()


async def amain(users: int, per: int) -> None:
    async with prepared_sandbox("odh-bench-watch-") as (tmp, sb, cluster):
        results = {m: await run_mode(m, users, per, tmp, sb, cluster) for m in MODES}
    keys = len(RESOURCES)
    sa_keys = keys - 1  # Secrets: the service account may not watch them (auto)
    report("watch_sockets", results["auto"]["sockets"], "sockets")
    for mode, r in results.items():
        m = mode.replace("-", "_")
        target = {"auto": f"<= {sa_keys + users}", "shared": f"== {keys}",
                  "per-user": f"== {keys * users}"}[mode]
        report(f"watch_{m}_upstream_watches", r["upstream"], "watches", target)
        report(f"watch_{m}_rss_per_idle_socket", r["rss_kib"], "KiB", "<= 32")
        report(f"watch_{m}_event_p50_ms", r["p50"], "ms")
        report(f"watch_{m}_event_p99_ms", r["p99"], "ms", "< 250")
        report(f"watch_{m}_events_lost", r["lost"], "events", "== 0")
        report(f"watch_{m}_events_lost_upstream_cut", r["lost_cut"], "events", "== 0")
        report(f"watch_{m}_events_lost_410", r["lost_410"], "events", "== 0")
        report(f"watch_{m}_sockets_closed", r["closed"], "sockets", "== 0")


def main() -> None:
    raise_nofile()
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    asyncio.run(amain(users, per))


if __name__ == "__main__":
    main()
