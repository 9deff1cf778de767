"""Embedded stand-ins for what is not configured: API server, S3, Hugging Face hub.

The API server is started by the core when no cluster is found; S3 and the hub only when a
plugin asks (`await app.sandbox.ensure_s3()`), so a server without the s3 plugin never pays for
moto. Each part says loudly where it is.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from .config import DevUser, Settings
from .kube import KubeConnection, make_ssl_context

log = logging.getLogger("odh.sandbox")
REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_USERS = ("admin", "alice", "bob")
SERVICE_ACCOUNT_USER = "odh-core"


def default_seed_dir() -> Path:
    return REPO_ROOT / "conf" / "sandbox"


class SandboxManager:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.state_dir = Path(settings.sandbox.state_dir)
        self.kube: Any = None
        self.s3: Any = None
        self.hub: Any = None
        self._lock = asyncio.Lock()

    @property
    def parts(self) -> list[str]:
        return [n for n, v in (("kube", self.kube), ("s3", self.s3), ("hub", self.hub)) if v]

    async def start_kube(self) -> KubeConnection:
        from odh_sandbox.kube import SandboxKubeServer

        self.state_dir.mkdir(parents=True, exist_ok=True)
        kubeconfig = self.state_dir / "sandbox-kubeconfig"
        seed_dir = self.settings.sandbox.seed_dir or default_seed_dir()
        server = SandboxKubeServer(seed_dir=seed_dir, kubeconfig_out=kubeconfig,
                                   state_dir=self.state_dir)
        await server.start()
        self.kube = server
        log.warning("SANDBOX: embedded Kubernetes API server at %s (kubeconfig %s; try "
                    "`KUBECONFIG=%s kubectl get ns`)", server.https_url, server.kubeconfig,
                    server.kubeconfig)
        return KubeConnection(
            host=server.https_url, ssl=make_ssl_context(server.ca_file), ca_file=server.ca_file,
            token_source=lambda: server.token(SERVICE_ACCOUNT_USER), sandbox=True,
            description=f"embedded sandbox ({server.https_url})")

    def dev_users(self) -> dict[str, DevUser]:
        if self.kube is None:
            return {}
        from pydantic import SecretStr

        return {u: DevUser(username=u, token=SecretStr(self.kube.token(u))) for u in SEED_USERS}

    async def ensure_s3(self) -> Any:
        """The embedded S3 (moto's server on loopback), started on first request."""
        async with self._lock:
            if self.s3 is None:
                from odh_sandbox.s3 import SandboxS3

                self.s3 = await asyncio.to_thread(SandboxS3().start)
                log.warning("SANDBOX: embedded S3 at %s (bucket %s)", self.s3.endpoint,
                            self.s3.default_bucket)
            return self.s3

    async def ensure_hub(self) -> Any:
        """The sandbox Hugging Face hub with its demo models, started on first request."""
        async with self._lock:
            if self.hub is None:
                from odh_sandbox.hub import SandboxHub, seed_demo

                hub = SandboxHub()
                seed_demo(hub)
                await hub.start()
                self.hub = hub
                log.warning("SANDBOX: embedded Hugging Face hub at %s", hub.endpoint)
            return self.hub

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        if self.s3 is not None:
            await asyncio.to_thread(self.s3.stop)
        if self.kube is not None:
            await self.kube.stop()
        self.kube = self.s3 = self.hub = None
