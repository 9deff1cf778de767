"""S3 plugin benchmark (issue 6): streaming upload/download through odh-core vs aiobotocore
straight to the same moto server, CPU per GiB in the odh-core process, and its peak RSS growth
while a 1 GiB object streams through.

    .venv/bin/python -m bench.s3

moto runs in its own process (SandboxS3 mode="process") so its memory is not odh-core's;
odh-core runs as `odh-core serve` in a child process with a config file; this process is the
client (and hosts the sandbox API server, idle once the token's identity is cached).
"""
from __future__ import annotations

import asyncio
import base64
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
from aiobotocore.session import AioSession

from odh_sandbox.kube import SandboxKube
from odh_sandbox.s3 import SandboxS3
from odh_s3.connection import S3Connection
from odh_s3.multipart import MultipartWriter

from .common import (PYTHON, ROOT, Child, RssSampler, cpu_seconds, cpu_split, free_port, report,
                     wait_http, write_odh_config)

MiB = 1024 * 1024
GiB = 1024 * MiB
SIZE = 256 * MiB
RUNS = 5
BIG = 1 * GiB
BOUNDARY = "benchboundary0123456789"
CHUNK = MiB
BLOCK = os.urandom(CHUNK)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def upload_odh(http: aiohttp.ClientSession, url: str, auth: dict, bucket: str, key: str,
                     size: int) -> float:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for _ in range(size // CHUNK):
            yield BLOCK
        yield tail

    start = time.perf_counter()
    async with http.post(f"{url}/api/objects/upload/{bucket}/{b64(key)}", data=body(),
                         headers={**auth, "Content-Length": str(len(head) + size + len(tail)),
                                  "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
                         ) as resp:
        if resp.status != 200:
            raise RuntimeError(f"upload failed: {resp.status} {await resp.text()}")
    return time.perf_counter() - start


async def download_odh(http: aiohttp.ClientSession, url: str, auth: dict, bucket: str,
                       key: str) -> tuple[float, int]:
    start = time.perf_counter()
    got = 0
    async with http.get(f"{url}/api/objects/download/{bucket}/{b64(key)}", headers=auth) as r:
        if r.status != 200:
            raise RuntimeError(f"download failed: {r.status}")
        async for chunk in r.content.iter_chunked(CHUNK):
            got += len(chunk)
    return time.perf_counter() - start, got


def download_lean(url: str, auth: dict, bucket: str, key: str) -> tuple[float, int]:
    """The same download with a lean client, a stand-in for a browser's network stack: a
    plain socket reading into one reused buffer. On this two-core machine the aiohttp client
    above spends about as much CPU per byte as the odh-core process relaying it, and shares
    the cores with moto and odh-core; this one spends next to none. Blocking: run it in a
    thread."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    path = f"/api/objects/download/{bucket}/{b64(key)}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close",
             *(f"{k}: {v}" for k, v in auth.items())]
    start = time.perf_counter()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        head, got_bytes = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"download failed: {head[:40]!r}")
        length = int(next(x.split(b":", 1)[1] for x in head.split(b"\r\n")
                          if x.lower().startswith(b"content-length:")))
        got, view = len(got_bytes), memoryview(bytearray(CHUNK))
        while got < length:
            n = sock.recv_into(view)
            if not n:
                break
            got += n
    return time.perf_counter() - start, got


async def upload_direct(client: Any, bucket: str, key: str, size: int) -> float:
    start = time.perf_counter()
    w = MultipartWriter(client, bucket, key, expected_size=size)
    for _ in range(size // CHUNK):
        await w.write(BLOCK)
    await w.complete()
    return time.perf_counter() - start


async def download_direct(client: Any, bucket: str, key: str) -> tuple[float, int]:
    start = time.perf_counter()
    got = 0
    obj = await client.get_object(Bucket=bucket, Key=key)
    async with obj["Body"] as body:
        while chunk := await body.read(CHUNK):
            got += len(chunk)
    return time.perf_counter() - start, got


async def run(url: str, pid: int, s3: SandboxS3, auth: dict) -> None:
    from .common import rss_bytes

    idle_rss = rss_bytes(pid)  # before any transfer: growth from here includes warm-up
    bucket = s3.default_bucket
    conn = S3Connection(endpoint=s3.endpoint, access_key_id=s3.access_key,
                        secret_access_key=s3.secret_key, region=s3.region)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    async with AioSession().create_client("s3", **conn.client_kwargs()) as client, \
            aiohttp.ClientSession(timeout=timeout) as http:
        up_odh, up_dir, down_odh, down_dir, down_lean = [], [], [], [], []
        cpu_up, cpu_down, user_down, sys_down = [], [], [], []
        # Interleaved, and each ratio is the median of the runs' own ratios: the machine's
        # speed drifts by tens of percent within a minute, and one run's pair sees one speed.
        for i in range(RUNS):
            up_dir.append(SIZE / await upload_direct(client, bucket, f"bench/direct-{i}", SIZE))
            c0 = cpu_seconds(pid)
            up_odh.append(SIZE / await upload_odh(http, url, auth, bucket, f"bench/odh-{i}",
                                                  SIZE))
            cpu_up.append((cpu_seconds(pid) - c0) / (SIZE / GiB))
            direct_t, n = await download_direct(client, bucket, f"bench/direct-{i}")
            assert n == SIZE
            down_dir.append(SIZE / direct_t)
            u0, s0 = cpu_split(pid)
            t, n = await download_odh(http, url, auth, bucket, f"bench/odh-{i}")
            assert n == SIZE
            down_odh.append(SIZE / t)
            u1, s1 = cpu_split(pid)
            t, n = await asyncio.to_thread(download_lean, url, auth, bucket, f"bench/odh-{i}")
            assert n == SIZE
            down_lean.append(SIZE / t)
            cpu_down.append((u1 - u0 + s1 - s0) / (SIZE / GiB))
            user_down.append((u1 - u0) / (SIZE / GiB))
            sys_down.append((s1 - s0) / (SIZE / GiB))
            for k in (f"bench/direct-{i}", f"bench/odh-{i}"):
                await client.delete_object(Bucket=bucket, Key=k)
        med = statistics.median
        report("s3_upload_direct_mib_s", med(up_dir) / MiB, "MiB/s")
        report("s3_upload_odh_mib_s", med(up_odh) / MiB, "MiB/s")
        report("s3_upload_ratio", med(o / d for o, d in zip(up_odh, up_dir)), "x", ">= 0.85")
        report("s3_download_direct_mib_s", med(down_dir) / MiB, "MiB/s")
        report("s3_download_odh_mib_s", med(down_odh) / MiB, "MiB/s")
        report("s3_download_ratio", med(o / d for o, d in zip(down_odh, down_dir)), "x",
               ">= 0.85")
        report("s3_download_odh_lean_client_mib_s", med(down_lean) / MiB, "MiB/s")
        report("s3_download_ratio_lean_client",
               med(o / d for o, d in zip(down_lean, down_dir)), "x")
        report("s3_upload_cpu_s_per_gib", med(cpu_up), "s/GiB")
        report("s3_download_cpu_s_per_gib", med(cpu_down), "s/GiB")
        report("s3_download_user_cpu_s_per_gib", med(user_down), "s/GiB")
        report("s3_download_kernel_cpu_s_per_gib", med(sys_down), "s/GiB")

        with RssSampler(pid) as rss:
            await upload_odh(http, url, auth, bucket, "bench/big", BIG)
        report("s3_upload_1gib_peak_rss_growth_mib", rss.growth / MiB, "MiB", "< 64")
        report("s3_upload_1gib_peak_rss_over_idle_mib", (rss.peak - idle_rss) / MiB, "MiB")
        with RssSampler(pid) as rss:
            _, n = await download_odh(http, url, auth, bucket, "bench/big")
            assert n == BIG
        report("s3_download_1gib_peak_rss_growth_mib", rss.growth / MiB, "MiB", "< 64")
        report("s3_download_1gib_peak_rss_over_idle_mib", (rss.peak - idle_rss) / MiB, "MiB")
        await client.delete_object(Bucket=bucket, Key="bench/big")


def main() -> None:
    kube = SandboxKube().start()
    s3 = SandboxS3(mode="process").start()
    tmp = Path(tempfile.mkdtemp(prefix="odh-bench-s3-"))
    try:
        port = free_port()
        write_odh_config(tmp / "odh.yaml", kube.https_url, kube.token("odh-core"), {"s3": {
            "endpoint": s3.endpoint, "access_key_id": s3.access_key,
            "secret_access_key": s3.secret_key, "region": s3.region,
            "default_bucket": s3.default_bucket, "settings_store": "file",
            "state_dir": str(tmp), "max_concurrent_transfers": 4,
            # alice streams on the shared S3, as before per-user sources (issue 19)
            "shared_groups": ["system:authenticated"]}}, ca_file=kube.ca_file)
        auth = {"Authorization": f"Bearer {kube.token('alice')}"}
        with Child([PYTHON, "-m", "odh_core", "serve", "--config", str(tmp / "odh.yaml"),
                    "--port", str(port), "--host", "127.0.0.1"], cwd=str(ROOT),
                   log=tmp / "odh.log") as child:
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/api/buckets", headers=auth)
            asyncio.run(run(url, child.pid, s3, auth))
    finally:
        s3.stop()
        kube.stop()


if __name__ == "__main__":
    main()
