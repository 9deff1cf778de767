"""Keys and prefixes travel as base64 in the path (browser `btoa`): decode them strictly."""
from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from odh_core import ApiError

_B64 = re.compile(r"^[A-Za-z0-9+/\-_]*={0,2}$")
NO_PREFIX = "there_is_no_prefix"  # the UI's sentinel for "bucket root"


def b64decode_text(value: str, what: str = "key") -> str:
    """Standard or URL-safe base64, padding optional, to UTF-8; 400 when it is not that."""
    raw = value.strip()
    if not raw or not _B64.match(raw):
        raise ApiError(400, f"the {what} must be base64-encoded UTF-8", error="InvalidBase64")
    raw = raw.replace("-", "+").replace("_", "/").rstrip("=")
    raw += "=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, f"the {what} must be base64-encoded UTF-8",
                       error="InvalidBase64") from None


def b64encode_text(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def decode_prefix(value: str | None) -> str:
    if not value:
        return ""
    prefix = b64decode_text(value, "prefix")
    return "" if prefix == NO_PREFIX else prefix


def iso(value: Any) -> Any:
    """Dates as the old Node backend sent them: ISO 8601 in UTC with milliseconds and Z."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value


def content_disposition(filename: str, kind: str = "attachment") -> str:
    """RFC 6266 with an ASCII fallback and the RFC 5987 UTF-8 form."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return (f'{kind}; filename="{fallback or "download"}"; '
            f"filename*=UTF-8''{quote(filename, safe='')}")


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` breaks S3's bucket naming rules, or None (dots are allowed)."""
    if not isinstance(name, str) or not 3 <= len(name) <= 63:
        return "bucket names are 3 to 63 characters long"
    if not _BUCKET.match(name):
        return ("bucket names use lowercase letters, digits, dots and hyphens, and start and "
                "end with a letter or digit")
    if ".." in name or ".-" in name or "-." in name:
        return "bucket names may not contain '..', '.-' or '-.'"
    if _IPV4.match(name):
        return "bucket names may not look like an IP address"
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
            ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")):
        return "bucket names may not use a prefix or suffix S3 reserves"
    return None
