"""Two (or more) real `odh-core serve` processes sharing the session's sandbox API server,
moto S3 and hub: what a Deployment with several replicas looks like (imported by name)."""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import yaml

from hf_testkit import parse_sse
from odh_core.testing import clean_env, wait_ready


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    """One odh-core process on a loopback port."""

    config: dict[str, Any]
    workdir: Path
    tokens: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> "Replica":
        self.port = self.port or free_port()
        cfg = self.workdir / "odh.yaml"
        cfg.write_text(yaml.safe_dump(self.config))
        args = [sys.executable, "-m", "odh_core", "serve", "--config", str(cfg),
                "--host", "127.0.0.1", "--port", str(self.port)]
        log = open(self.workdir / "odh-core.log", "ab")
        self.proc = subprocess.Popen(args, cwd=self.workdir, env=clean_env(self.env),
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.started_at = time.monotonic()
        try:
            wait_ready(self.proc, self.url, self.log, timeout)
        except RuntimeError:
            self.kill()
            raise
        return self

    def log(self) -> str:
        path = self.workdir / "odh-core.log"
        return path.read_text(errors="replace")[-20000:] if path.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> float:
        """SIGTERM and wait; returns how long the process took to exit."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return time.monotonic() - began

    def headers(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def call(self, http: aiohttp.ClientSession, method: str, path: str,
                   user: str = "alice", **kwargs: Any) -> tuple[int, Any]:
        async with http.request(method, self.url + path, headers=self.headers(user),
                                **kwargs) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def job(self, http: aiohttp.ClientSession, job_id: str,
                  user: str = "alice") -> dict[str, Any]:
        status, body = await self.call(http, "GET", f"/api/hf/imports/{job_id}", user)
        assert status == 200, body
        return body["data"]

    async def events(self, http: aiohttp.ClientSession, path: str, user: str = "alice",
                     timeout: float = 90) -> AsyncIterator[tuple[str | None, Any]]:
        """Parse an SSE stream as it arrives: (event name, data)."""
        async with http.get(self.url + path, headers=self.headers(user),
                            timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            assert resp.status == 200, await resp.text()
            async for event in parse_sse(resp.content):
                yield event


async def wait_for(check: Any, what: str, timeout: float = 60, every: float = 0.1) -> Any:
    """Poll an async `check()` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)
