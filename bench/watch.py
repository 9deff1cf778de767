"""Watch benchmark (issue 5): 1,000 WebSocket subscribers on one key, shared vs per-user.

    .venv/bin/python -m bench.watch [subscribers]

The sandbox API server and odh-core each run in a child process (RSS per connection is the
server's own); the subscribers run here. Per mode: upstream watches opened (odh-core's own
counter), latency from an object change to the *last* subscriber receiving it (p50/p99 over
the changes), and RSS per idle connection.
"""
from __future__ import annotations

import asyncio
import base64
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
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml

from .common import PYTHON, ROOT, Child, free_port, report, rss_bytes
from .watch_servers import raise_nofile

NS, NAME = "alice-project", "bench-watched"
CHANGES = 40
BATCH = 50


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


def upstream_opened(port: int, mode: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf'odh_watch_upstream_opened_total{{mode="{mode}"}} ([0-9.e+]+)', text)
    return float(m.group(1)) if m else 0.0


class RawWebSocket(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455) on a raw asyncio transport.

    A thousand Tornado clients in one Python process spend ~100 us per frame in coroutine
    hops, on the same two cores as the server: the benchmark would mostly time itself. This
    one parses frames in one pass per read and answers pings, nothing else.
    """

    def __init__(self, subs: "Subscribers", host: str, path: str, token: str):
        self.subs, self.host, self.path, self.token = subs, host, path, token
        self.transport: asyncio.Transport | None = None
        self.upgraded = asyncio.get_running_loop().create_future()
        self.buf = b""

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
            elif opcode in (0x1, 0x2):
                self.subs.on_message(payload)
        self.buf = buf[pos:]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Subscribers:
    """N WebSocket clients; marks when each saw the frame carrying `"seq":"<n>"`."""

    def __init__(self, n: int):
        self.n = n
        self.conns: list[Any] = []
        self.initial = 0
        self.initial_done = asyncio.Event()
        self.expect = b""
        self.seen = 0
        self.last_at = 0.0
        self.all_seen = asyncio.Event()

    def on_message(self, raw: bytes) -> None:
        if b'"seq":"init"' in raw and b'"ADDED"' in raw:
            self.initial += 1
            if self.initial == self.n:
                self.initial_done.set()
        elif self.expect and self.expect in raw:
            self.seen += 1
            if self.seen == self.n:
                self.last_at = time.perf_counter()
                self.all_seen.set()

    async def connect(self, url: str, token: str, count: int) -> None:
        parsed = urlsplit(url)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        loop = asyncio.get_running_loop()

        async def one() -> None:
            _, proto = await loop.create_connection(
                lambda: RawWebSocket(self, parsed.netloc, path, token),
                parsed.hostname, parsed.port)
            await asyncio.wait_for(proto.upgraded, 60)
            self.conns.append(proto)

        for start in range(0, count, BATCH):
            await asyncio.gather(*(one() for _ in range(min(BATCH, count - start))))

    def close(self) -> None:
        for c in self.conns:
            c.close()


async def run_mode(mode: str, n: int, tmp: Path, sb: dict[str, Any],
                   session: aiohttp.ClientSession) -> dict[str, float]:
    cfg = {"kubernetes": {"host": sb["https_url"], "ca_file": sb["ca_file"],
                          "token": sb["tokens"]["odh-core"]},
           "sandbox": {"mode": "off"}, "plugin_autoload": False,
           "logging": {"access_log": False},
           "plugins": {"watch": {"enabled": True, "mode": mode, "linger_seconds": 30}}}
    path = tmp / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    port = free_port()
    alice = sb["tokens"]["alice"]
    obj_url = f"{sb['https_url']}/api/v1/namespaces/{NS}/configmaps/{NAME}"
    hdrs = {"Authorization": f"Bearer {alice}", "Content-Type": "application/merge-patch+json"}
    async with session.patch(obj_url, json={"data": {"seq": "init"}}, headers=hdrs) as r:
        assert r.status == 200, await r.text()
    with Child([PYTHON, "-m", "bench.watch_servers", "odh", str(path), str(port)],
               cwd=str(ROOT), log=tmp / f"odh-{mode}.log") as child:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        url = (f"ws://127.0.0.1:{port}/wss/k8s/api/v1/namespaces/{NS}/configmaps"
               f"?watch=true&fieldSelector=metadata.name%3D{NAME}")
        subs = Subscribers(n)
        await subs.connect(url, alice, 1)  # the informer (shared) exists before the baseline
        while subs.initial < 1:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        rss0 = rss_bytes(child.pid)
        await subs.connect(url, alice, n - 1)
        await asyncio.wait_for(subs.initial_done.wait(), 120)
        await asyncio.sleep(1.0)  # idle: the initial frames are flushed
        rss1 = rss_bytes(child.pid)
        lat = []
        for i in range(CHANGES):
            subs.expect = f'"seq":"{i}"'.encode()
            subs.seen = 0
            subs.all_seen = asyncio.Event()
            t0 = time.perf_counter()
            async with session.patch(obj_url, json={"data": {"seq": str(i)}},
                                     headers=hdrs) as r:
                assert r.status == 200
            await asyncio.wait_for(subs.all_seen.wait(), 60)
            lat.append((subs.last_at - t0) * 1000)
        opened = upstream_opened(port, mode)
        subs.close()
    lat.sort()
    return {"opened": opened, "p50": statistics.median(lat),
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "rss_kib": (rss1 - rss0) / (n - 1) / 1024}


async def amain(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="odh-bench-watch-"))
    sandbox, sb = start_sandbox(tmp)
    try:
        ctx = ssl.create_default_context(cafile=sb["ca_file"])
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            async with session.post(
                    f"{sb['https_url']}/api/v1/namespaces/{NS}/configmaps",
                    json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NAME},
                          "data": {"seq": "init"}},
                    headers={"Authorization": f"Bearer {sb['tokens']['alice']}"}) as r:
                assert r.status in (201, 409), await r.text()
            results = {m: await run_mode(m, n, tmp, sb, session) for m in ("shared", "per-user")}
    finally:
        sandbox.stop()
    s, p = results["shared"], results["per-user"]
    report("watch_subscribers", n, "clients")
    report("watch_shared_upstream_watches", s["opened"], "watches", "== 1")
    report("watch_per_user_upstream_watches", p["opened"], "watches")
    report("watch_shared_p50_ms", s["p50"], "ms")
    report("watch_shared_p99_ms", s["p99"], "ms", "< 250")
    report("watch_per_user_p50_ms", p["p50"], "ms")
    report("watch_per_user_p99_ms", p["p99"], "ms")
    report("watch_shared_vs_per_user_p99_ratio", s["p99"] / p["p99"], "x", "<= 1")
    report("watch_shared_rss_per_idle_conn", s["rss_kib"], "KiB", "< 32")
    report("watch_per_user_rss_per_idle_conn", p["rss_kib"], "KiB")


def main() -> None:
    raise_nofile()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    asyncio.run(amain(n))


if __name__ == "__main__":
    main()
