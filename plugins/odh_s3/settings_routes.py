"""Settings routes (S3 connection, proxy, transfer limit) and the disclaimer.

Reads are open to any signed-in user (the secret is masked); writes and connection tests are
admin-only: a test makes the server connect somewhere, so it must not become an open fetcher.
"""
from __future__ import annotations

import re
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from odh_core import ApiError, requires

from .base import S3Handler
from .codec import bucket_name_problem
from .connection import S3Connection, new_session
from .errors import s3_api_error
from .settings import DISCLAIMER_STATES, MASK

_REGION = re.compile(r"^[a-z0-9\-]{0,40}$")


def _http_url(value: Any, field: str, *, allow_empty: bool = True) -> str:
    if value is None or value == "":
        if allow_empty:
            return ""
        raise ApiError(400, f"{field} is required")
    if not isinstance(value, str) or len(value) > 2048:
        raise ApiError(400, f"{field} must be an http(s) URL")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError:
        raise ApiError(400, f"{field} must be an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(400, f"{field} must be an http(s) URL")
    return value.strip()


def _str(body: dict[str, Any], key: str, limit: int = 1024) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(400, f"{key} must be a string")
    return value.strip()


class _SettingsHandler(S3Handler):
    @property
    def settings(self) -> Any:
        return self.plugin.settings

    def body_dict(self) -> dict[str, Any]:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def s3_changes(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validated S3 fields from a body; the mask (or an absent field) means unchanged."""
        changes: dict[str, Any] = {}
        key_id = _str(body, "accessKeyId", 256)
        if key_id is not None:
            changes["accessKeyId"] = key_id
        secret = body.get("secretAccessKey")
        if secret is not None and secret != MASK:
            if not isinstance(secret, str) or len(secret) > 1024:
                raise ApiError(400, "secretAccessKey must be a string")
            changes["secretAccessKey"] = secret
        region = _str(body, "region", 64)
        if region is not None:
            if not _REGION.match(region):
                raise ApiError(400, "region must look like us-east-1")
            changes["region"] = region
        if "endpoint" in body:
            changes["endpoint"] = _http_url(body.get("endpoint"), "endpoint")
        bucket = _str(body, "defaultBucket", 63)
        if bucket is not None:
            if bucket and (problem := bucket_name_problem(bucket)):
                raise ApiError(400, f"defaultBucket: {problem}")
            changes["defaultBucket"] = bucket
        return changes


class S3SettingsHandler(_SettingsHandler):
    async def get(self) -> None:
        self.write_json({"settings": self.settings.s3_view()})

    @requires("admin")
    async def put(self) -> None:
        changes = self.s3_changes(self.body_dict())
        await self.settings.update(changes)
        self.plugin.log.info("S3 settings changed by %s (fields: %s)", self.identity.username,
                             ", ".join(sorted(changes)) or "none")
        self.write_json({"message": "Settings updated successfully",
                         "settings": self.settings.s3_view()})


class TestS3Handler(_SettingsHandler):
    @requires("admin")
    async def post(self) -> None:
        """Try the given (or current) S3 settings: ListBuckets, else HeadBucket."""
        body = self.body_dict() if self.request.body else {}
        overlay = {**self.settings.overlay, **self.s3_changes(body)}
        conn: S3Connection = self.settings.connection(overlay)
        if not conn.configured:
            raise ApiError(400, "no S3 endpoint or credentials to test")
        kwargs = conn.with_(max_pool_connections=2).client_kwargs()
        try:
            async with (await new_session()).create_client("s3", **kwargs) as client:
                try:
                    await client.list_buckets()
                except Exception as exc:
                    err = s3_api_error(exc)
                    if err.status != 403 or not conn.default_bucket:
                        raise
                    await client.head_bucket(Bucket=conn.default_bucket)
        except Exception as exc:
            raise s3_api_error(exc) from None
        self.write_json({"message": "Connection successful"})


class TransfersHandler(_SettingsHandler):
    async def get(self) -> None:
        self.write_json({"maxConcurrentTransfers": self.settings.max_transfers})

    @requires("admin")
    async def put(self) -> None:
        value = self.body_dict().get("maxConcurrentTransfers")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise ApiError(400, "maxConcurrentTransfers must be an integer from 1 to 1000")
        await self.settings.update({"maxConcurrentTransfers": value})
        self.write_json({"message": "Settings updated successfully",
                         "maxConcurrentTransfers": self.settings.max_transfers})


def _proxy_changes(body: dict[str, Any], current: S3Connection) -> dict[str, Any]:
    changes = {}
    for field, attr in (("httpProxy", "http_proxy"), ("httpsProxy", "https_proxy")):
        if field not in body:
            continue
        value = body.get(field)
        if isinstance(value, str) and MASK in value:
            continue  # the masked URL we sent: unchanged
        changes[field] = _http_url(value, field)
    return changes


class ProxySettingsHandler(_SettingsHandler):
    async def get(self) -> None:
        self.write_json({"settings": self.settings.proxy_view()})

    @requires("admin")
    async def put(self) -> None:
        changes = _proxy_changes(self.body_dict(), self.access_or_base())
        await self.settings.update(changes)
        self.write_json({"message": "Settings updated successfully",
                         "settings": self.settings.proxy_view()})

    def access_or_base(self) -> S3Connection:
        return self.settings.connection()


class TestProxyHandler(_SettingsHandler):
    @requires("admin")
    async def post(self) -> None:
        """Connect to the configured S3 endpoint through the proxy (never a caller's URL)."""
        body = self.body_dict() if self.request.body else {}
        current = self.settings.connection()
        overlay = {**self.settings.overlay, **_proxy_changes(body, current)}
        conn = self.settings.connection(overlay)
        target = conn.endpoint or f"https://s3.{conn.region or 'us-east-1'}.amazonaws.com"
        scheme = urlsplit(target).scheme
        proxy = conn.https_proxy if scheme == "https" else conn.http_proxy
        proxy = proxy or conn.http_proxy or conn.https_proxy
        if not proxy:
            raise ApiError(400, "no proxy is set: send httpProxy/httpsProxy or save them first")
        ssl_ctx: Any = None
        if scheme == "https":
            ssl_ctx = ssl.create_default_context(cafile=conn.ca_bundle) if conn.verify else False
        try:
            async with self.odh.http.get(target, proxy=proxy, ssl=ssl_ctx, allow_redirects=False,
                                         timeout=aiohttp.ClientTimeout(total=15)) as resp:
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ApiError(502, f"could not reach the S3 endpoint through the proxy: "
                           f"{type(exc).__name__}", error="ProxyError") from None
        if status in (407, 502, 503, 504):
            raise ApiError(502, f"the proxy answered {status}", error="ProxyError")
        self.write_json({"message": "Connection successful", "status": status})


class DisclaimerHandler(_SettingsHandler):
    async def get(self) -> None:
        self.write_json({"disclaimer": {"status": self.settings.disclaimer}})

    async def put(self) -> None:
        """Any signed-in user may record the disclaimer answer (the UI asks every user)."""
        body = self.body_dict()
        status = body.get("status")
        if status is None and isinstance(body.get("disclaimer"), dict):
            status = body["disclaimer"].get("status")
        if status not in DISCLAIMER_STATES:
            raise ApiError(400, f"status must be one of {', '.join(DISCLAIMER_STATES)}")
        await self.settings.update({"disclaimer": status})
        self.write_json({"message": "Disclaimer status updated",
                         "disclaimer": {"status": self.settings.disclaimer}})
