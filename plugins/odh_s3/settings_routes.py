"""Settings routes (S3 connection, proxy, transfer limit) and the disclaimer.

Who changes what: an admin's S3 settings are the *shared* S3; anyone else's are their own
(kept in their settings Secret, see user_store.py), on an endpoint `plugins.s3.
allowed_endpoints` allows. Secrets are masked on the way out (`MASK`; the same mask sent back
means "unchanged"). The transfer limit is per user, bounded by the admin's maximum; the
disclaimer answer is per user. Proxy settings and proxy tests are admin-only: a user-chosen
proxy or test URL would make the server fetch anything.
"""
from __future__ import annotations

import re
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from odh_core import ApiError, requires

from .access import TRANSFERS_KEY, int_or_none
from .base import S3Handler
from .codec import bucket_name_problem
from .connection import S3Connection, new_session
from .errors import s3_api_error
from .settings import DISCLAIMER_STATES, MASK
from .sources import connection_from_user, endpoint_allowed

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

USER_S3_KEYS = {"accessKeyId": "s3.accessKeyId", "secretAccessKey": "s3.secretAccessKey",
                "region": "s3.region", "endpoint": "s3.endpoint",
                "defaultBucket": "s3.defaultBucket"}
DISCLAIMER_KEY = "disclaimer"

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
    uses_source = False

    @property
    def settings(self) -> Any:
        return self.plugin.settings

    @property
    def users(self) -> Any:
        return self.plugin.require_access().user_store

    async def own(self) -> dict[str, str]:
        return await self.users.get(self.identity.username)

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


    def user_view(self, data: dict[str, str]) -> dict[str, Any]:
        """The caller's own S3 settings as the UI reads them; the secret masked."""
        return {"accessKeyId": data.get("s3.accessKeyId", ""),
                "secretAccessKey": MASK if data.get("s3.secretAccessKey") else "",
                "region": data.get("s3.region") or "us-east-1",
                "endpoint": data.get("s3.endpoint", ""),
                "defaultBucket": data.get("s3.defaultBucket", "")}

    def check_endpoint(self, conn: S3Connection) -> None:
        access = self.plugin.require_access()
        if not endpoint_allowed(conn.endpoint, access.allowed):
            raise ApiError(400, f"odh-core may not connect to {conn.endpoint!r}: ask an "
                           "administrator to allow it (plugins.s3.allowed_endpoints)",
                           error="EndpointNotAllowed")


class S3SettingsHandler(_SettingsHandler):
    async def get(self) -> None:
        """Admins: the shared S3; anyone else: their own settings (empty until saved)."""
        if await self.is_admin():
            self.write_json({"settings": self.settings.s3_view()})
        else:
            self.write_json({"settings": self.user_view(await self.own())})

    async def put(self) -> None:
        changes = self.s3_changes(self.body_dict())
        if await self.is_admin():
            await self.settings.update(changes)
            self.plugin.log.info("shared S3 settings changed by %s (fields: %s)",
                                 self.identity.username, ", ".join(sorted(changes)) or "none")
            self.write_json({"message": "Settings updated successfully",
                             "settings": self.settings.s3_view()})
            return
        data = await self.own()
        merged = {**data, **{USER_S3_KEYS[k]: v for k, v in changes.items()}}
        conn = connection_from_user(merged, self.plugin.require_access().connection)
        self.check_endpoint(conn)
        data = await self.users.update(self.identity.username,
                                       {USER_S3_KEYS[k]: v for k, v in changes.items()})
        self.write_json({"message": "Settings updated successfully",
                         "settings": self.user_view(data)})


class TestS3Handler(_SettingsHandler):
    async def post(self) -> None:
        """Try the given S3 settings over the caller's saved ones (an admin's: the shared
        ones): ListBuckets, else HeadBucket on the default bucket."""
        body = self.body_dict() if self.request.body else {}
        changes = self.s3_changes(body)
        if await self.is_admin():
            conn: S3Connection = self.settings.connection({**self.settings.overlay, **changes})
        else:
            merged = {**await self.own(), **{USER_S3_KEYS[k]: v for k, v in changes.items()}}
            conn = connection_from_user(merged, self.plugin.require_access().connection)
            self.check_endpoint(conn)
        if not conn.configured:
            raise ApiError(400, "no S3 endpoint or credentials to test")
        kwargs = conn.with_(max_pool_connections=2, max_attempts=1).client_kwargs()
        try:
            async with (await new_session()).create_client("s3", **kwargs) as client:
                try:
                    await client.list_buckets()
                except Exception as exc:
                    err = s3_api_error(exc)
                    if err.status != 403 or not conn.default_bucket:
                        raise err from None
                    # Keys limited to one bucket may not list buckets: fine if they reach the
                    # default bucket. If not, S3's ListBuckets answer says why (a HEAD answer
                    # has no body: "Forbidden" only).
                    try:
                        await client.head_bucket(Bucket=conn.default_bucket)
                    except Exception:
                        raise err from None
        except Exception as exc:
            raise s3_api_error(exc) from None
        self.write_json({"message": "Connection successful"})


class TransfersHandler(_SettingsHandler):
    async def effective(self) -> int:
        own = int_or_none((await self.own()).get(TRANSFERS_KEY))
        return self.plugin.require_access().slots.limit_for(own)

    async def get(self) -> None:
        """The caller's limit: their own value, bounded by the admin maximum."""
        self.write_json({"maxConcurrentTransfers": await self.effective(),
                         "maximum": self.settings.max_transfers})

    async def put(self) -> None:
        """An admin sets the maximum (everyone's bound); anyone else sets their own value."""
        value = self.body_dict().get("maxConcurrentTransfers")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise ApiError(400, "maxConcurrentTransfers must be an integer from 1 to 1000")
        if await self.is_admin():
            await self.settings.update({"maxConcurrentTransfers": value})
        else:
            maximum = self.settings.max_transfers
            if value > maximum:
                raise ApiError(400, f"maxConcurrentTransfers may be at most {maximum} (the "
                               "administrator's maximum)")
            await self.users.update(self.identity.username, {TRANSFERS_KEY: str(value)})
        self.write_json({"message": "Settings updated successfully",
                         "maxConcurrentTransfers": await self.effective()})


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
        """Fetch the Test URL (`testUrl`, http(s); default: the shared S3 endpoint) through
        the proxy; success only when it answers below 400. Admin only: it makes the server
        fetch a URL an admin chose."""
        import aiohttp

        body = self.body_dict() if self.request.body else {}
        current = self.settings.connection()
        overlay = {**self.settings.overlay, **_proxy_changes(body, current)}
        conn = self.settings.connection(overlay)
        target = _http_url(body.get("testUrl"), "testUrl") or conn.endpoint or \
            f"https://s3.{conn.region or 'us-east-1'}.amazonaws.com"
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
        if status >= 400:
            raise ApiError(502, f"{target} answered {status} through the proxy",
                           error="ProxyError")
        self.write_json({"message": "Connection successful", "status": status})


class DisclaimerHandler(_SettingsHandler):
    async def status(self) -> str:
        value = (await self.own()).get(DISCLAIMER_KEY)
        return value if value in DISCLAIMER_STATES else self.settings.disclaimer

    async def get(self) -> None:
        """The caller's own answer (the configured default until they answer)."""
        self.write_json({"disclaimer": {"status": await self.status()}})

    async def put(self) -> None:
        """Each user records their own answer (the UI asks every user)."""
        body = self.body_dict()
        status = body.get("status")
        if status is None and isinstance(body.get("disclaimer"), dict):
            status = body["disclaimer"].get("status")
        if status not in DISCLAIMER_STATES:
            raise ApiError(400, f"status must be one of {', '.join(DISCLAIMER_STATES)}")
        await self.users.update(self.identity.username, {DISCLAIMER_KEY: status})
        self.write_json({"message": "Disclaimer status updated",
                         "disclaimer": {"status": status}})
