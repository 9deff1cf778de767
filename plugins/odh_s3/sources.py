"""What an S3 source is and where its connection comes from (pure functions, no IO).

Source ids, as `GET /api/s3/sources` lists them and `?source=` / `PUT /api/s3/source` take:
  `shared`           the S3 admins configure
  `user`             the caller's own S3 settings
  `conn:<ns>/<name>` a dashboard S3 connection Secret in namespace <ns>
"""
from __future__ import annotations

import base64
import fnmatch
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from odh_core import ApiError

from .connection import S3Connection

SHARED = "shared"
USER = "user"
CONN_PREFIX = "conn:"
DASHBOARD_LABEL = "opendatahub.io/dashboard"
TYPE_REF = "opendatahub.io/connection-type-ref"
TYPE_OLD = "opendatahub.io/connection-type"
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class SourceRef:
    kind: str  # "shared" | "user" | "conn"
    namespace: str = ""
    name: str = ""

    @property
    def id(self) -> str:
        return f"{CONN_PREFIX}{self.namespace}/{self.name}" if self.kind == "conn" else self.kind


def parse_source(value: Any) -> SourceRef:
    """A source id from a request; 400 when it is not one."""
    if value == SHARED:
        return SourceRef(SHARED)
    if value == USER:
        return SourceRef(USER)
    if isinstance(value, str) and value.startswith(CONN_PREFIX):
        ns, _, name = value[len(CONN_PREFIX):].partition("/")
        if _DNS1123.match(ns) and _SECRET_NAME.match(name):
            return SourceRef("conn", ns, name)
    raise ApiError(400, "source must be 'shared', 'user' or 'conn:<namespace>/<secret name>'",
                   error="InvalidSource")


def is_namespace_name(value: str) -> bool:
    return bool(_DNS1123.match(value))


def is_s3_connection(secret: dict[str, Any]) -> bool:
    meta = secret.get("metadata") or {}
    if (meta.get("labels") or {}).get(DASHBOARD_LABEL) != "true":
        return False
    ann = meta.get("annotations") or {}
    return ann.get(TYPE_REF) == "s3" or ann.get(TYPE_OLD) in ("s3", "S3")


def secret_value(secret: dict[str, Any], key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return str((secret.get("stringData") or {}).get(key) or "")
    try:
        return base64.b64decode(raw).decode().strip()
    except (ValueError, UnicodeDecodeError):
        return ""


def connection_from_secret(secret: dict[str, Any], base: S3Connection) -> S3Connection:
    """A dashboard S3 connection's settings; proxy and CA from the admin's `base`."""
    return base.with_(endpoint=secret_value(secret, "AWS_S3_ENDPOINT") or None,
                      access_key_id=secret_value(secret, "AWS_ACCESS_KEY_ID"),
                      secret_access_key=secret_value(secret, "AWS_SECRET_ACCESS_KEY"),
                      region=secret_value(secret, "AWS_DEFAULT_REGION") or "us-east-1",
                      default_bucket=secret_value(secret, "AWS_S3_BUCKET"))


def connection_from_user(data: dict[str, str], base: S3Connection) -> S3Connection:
    """A user's own S3 settings (as saved by PUT /api/settings/s3); proxy/CA from `base`."""
    return base.with_(endpoint=data.get("s3.endpoint") or None,
                      access_key_id=data.get("s3.accessKeyId", ""),
                      secret_access_key=data.get("s3.secretAccessKey", ""),
                      region=data.get("s3.region") or "us-east-1",
                      default_bucket=data.get("s3.defaultBucket", ""))


def display_name(secret: dict[str, Any]) -> str:
    meta = secret.get("metadata") or {}
    return (meta.get("annotations") or {}).get("openshift.io/display-name") or \
        meta.get("name", "")


def endpoint_host(endpoint: str | None) -> str:
    """`host[:port]` of an endpoint URL, lower case ("" for AWS's default endpoint)."""
    if not endpoint:
        return ""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return "\0invalid"
    host = (parts.hostname or "").lower()
    return f"{host}:{port}" if port else host


def endpoint_allowed(endpoint: str | None, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether odh-core may connect to `endpoint` for a user-supplied source.

    Users choose the endpoints of their own settings and connections, so an unchecked one
    would make odh-core fetch any URL from inside the cluster. Patterns are shell globs over
    `host[:port]` (`*.amazonaws.com`, `minio.storage.svc:9000`); an unset endpoint is AWS's.
    """
    if not endpoint:
        endpoint = "https://s3.amazonaws.com"  # what an unset endpoint means
    try:
        scheme = urlsplit(endpoint).scheme
    except ValueError:
        return False
    if scheme not in ("http", "https"):
        return False
    host = endpoint_host(endpoint)
    bare = host.rsplit(":", 1)[0] if ":" in host else host
    return any(fnmatch.fnmatchcase(host, p.lower()) or fnmatch.fnmatchcase(bare, p.lower())
               for p in patterns if p)
