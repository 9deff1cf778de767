"""The S3 connection settings and how to open an aiobotocore client from them.

aiobotocore and botocore.config take ~200 ms to import, a sixth of a server start: they are
imported when the first client is made (`new_session`, in a worker thread so the event loop
keeps serving), and a server whose S3 is not configured yet never imports them.
"""
from __future__ import annotations

import asyncio
import importlib
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:  # pragma: no cover
    from botocore.config import Config as BotoConfig

# Parts in flight per transfer times concurrent transfers, plus listing/head calls: the pool
# must not be the bottleneck, and an idle pooled socket costs next to nothing.
DEFAULT_POOL = 256
READ_TIMEOUT_S = 120  # S3 silent this long mid-response: give up


@dataclass(frozen=True)
class S3Connection:
    """Everything needed to talk to one S3 endpoint. Immutable: a change is a new generation."""

    endpoint: str | None = None
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)  # never in a repr / log line
    region: str = "us-east-1"
    default_bucket: str = ""
    http_proxy: str = ""
    https_proxy: str = ""
    no_proxy: str = ""
    ca_bundle: str | None = None
    verify: bool = True
    addressing_style: str = "path"
    max_pool_connections: int = DEFAULT_POOL
    max_attempts: int = 3  # a settings test tries once: its answer is the first failure

    @property
    def configured(self) -> bool:
        return bool(self.endpoint or (self.access_key_id and self.secret_access_key))

    def with_(self, **changes: Any) -> "S3Connection":
        return replace(self, **changes)

    def proxies(self) -> dict[str, str] | None:
        """The proxies to use for the endpoint, honouring NO_PROXY."""
        proxies = {k: v for k, v in (("http", self.http_proxy), ("https", self.https_proxy))
                   if v}
        if not proxies:
            return None
        host = urlparse(self.endpoint or "https://s3.amazonaws.com").hostname or ""
        if bypass_proxy(host, self.no_proxy):
            return None
        return proxies

    def boto_config(self) -> "BotoConfig":
        from botocore.config import Config as BotoConfig  # see the module docstring

        return BotoConfig(
            s3={"addressing_style": self.addressing_style},
            max_pool_connections=self.max_pool_connections,
            proxies=self.proxies(),
            retries={"max_attempts": self.max_attempts, "mode": "standard"},
            connect_timeout=10, read_timeout=READ_TIMEOUT_S,
            # Checksums only where S3 requires them: TLS already protects the bytes in
            # transit and a CRC over every part costs CPU on the hot path.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )

    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"region_name": self.region or "us-east-1",
                              "config": self.boto_config()}
        if self.endpoint:
            kw["endpoint_url"] = self.endpoint
        if self.access_key_id:
            kw["aws_access_key_id"] = self.access_key_id
            kw["aws_secret_access_key"] = self.secret_access_key
        if not self.verify:
            kw["verify"] = False
        elif self.ca_bundle:
            kw["verify"] = self.ca_bundle
        return kw


def bypass_proxy(host: str, no_proxy: str) -> bool:
    """True when `host` matches an entry of a NO_PROXY list (suffix match, `*` for all)."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.lstrip(".").split(":")[0]
        if host == entry or host.endswith("." + entry):
            return True
    return False


def env_connection(environ: Any = None) -> S3Connection:
    """The connection the old backend's environment variables describe (COMPAT.md §2)."""
    env = os.environ if environ is None else environ
    return S3Connection(
        endpoint=env.get("AWS_S3_ENDPOINT") or None,
        access_key_id=env.get("AWS_ACCESS_KEY_ID", ""),
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", ""),
        region=env.get("AWS_DEFAULT_REGION", "") or "us-east-1",
        default_bucket=env.get("AWS_S3_BUCKET", ""),
        http_proxy=env.get("HTTP_PROXY") or env.get("http_proxy") or "",
        https_proxy=env.get("HTTPS_PROXY") or env.get("https_proxy") or "",
        no_proxy=env.get("NO_PROXY") or env.get("no_proxy") or "",
        ca_bundle=env.get("AWS_CA_BUNDLE") or None,
    )


async def new_session() -> Any:
    """A new aiobotocore session, its modules imported off the event loop on first use."""
    module = await asyncio.to_thread(importlib.import_module, "aiobotocore.session")
    return module.AioSession()
