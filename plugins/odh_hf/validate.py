"""Strict validation of everything a caller chooses: repo ids, revisions, file paths, keys.

Outbound URLs are built only from the configured endpoint plus these validated pieces (each
percent-encoded), so no request can be steered to a host or path the caller picked.
"""
from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from typing import Iterable

from odh_core import ApiError

# The hub's own rule: letters, digits, '-', '_', '.'; no leading/trailing '-'/'.'; no '--'/'..'.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
REPO_ID_RE = re.compile(rf"^{_NAME}/{_NAME}$")
# Branches, tags, commit shas and refs/pr/N; no '..', no leading '/', bounded length.
REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
JOB_ID_RE = re.compile(r"^[0-9a-f]{16}$")
NO_PREFIX = "there_is_no_prefix"
MAX_PREFIX = 512


def repo_id(value: object) -> str:
    if not isinstance(value, str) or not REPO_ID_RE.match(value) or ".." in value \
            or "--" in value:
        raise ApiError(400, f"invalid model id {value!r}: expected 'org/name' (letters, "
                       "digits, '-', '_', '.')")
    return value


def revision(value: object) -> str:
    if value is None or value == "":
        return "main"
    if not isinstance(value, str) or not REVISION_RE.match(value) or ".." in value \
            or "//" in value or value.endswith("/"):
        raise ApiError(400, f"invalid revision {value!r}: a branch, tag or commit sha")
    return value


def repo_path(value: str) -> bool:
    """A file path the hub listed is safe to put in a URL and an S3 key."""
    if not value or len(value) > 1024 or value.startswith("/") or "\\" in value:
        return False
    parts = value.split("/")
    return all(p not in ("", ".", "..") for p in parts) and not any(
        ord(c) < 32 or ord(c) == 127 for c in value)


def prefix(value: object) -> str:
    if value is None or value == "" or value == NO_PREFIX:
        return ""
    if not isinstance(value, str) or len(value) > MAX_PREFIX or value.startswith("/") \
            or any(ord(c) < 32 or ord(c) == 127 for c in value) \
            or any(p in (".", "..") for p in value.split("/")):
        raise ApiError(400, f"invalid prefix {value!r}")
    return value


def bucket(value: object) -> str:
    if not isinstance(value, str) or not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", value):
        raise ApiError(400, f"invalid bucket name {value!r}")
    return value


def patterns(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) and 0 < len(p) <= 256
                                              for p in value) or len(value) > 100:
        raise ApiError(400, f"{field} must be a list of glob patterns")
    return list(value)


def selected(path: str, include: Iterable[str], exclude: Iterable[str]) -> bool:
    include, exclude = list(include), list(exclude)
    if include and not any(fnmatch.fnmatchcase(path, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(path, p) for p in exclude)


def b64decode(value: str, what: str) -> str:
    """Standard or URL-safe base64 (padding optional), decoded to UTF-8; 400 otherwise."""
    try:
        text = value.replace("-", "+").replace("_", "/")
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, f"{what} is not valid base64") from None


def split_b64_pair(rest: str) -> tuple[str, str]:
    """Split `<b64prefix>/<b64model>`: standard base64 may itself contain '/', so try each
    '/' and keep the split where the model decodes to a valid repo id."""
    positions = [i for i, c in enumerate(rest) if c == "/"]
    for i in reversed(positions):
        left, right = rest[:i], rest[i + 1:]
        if not left or not right:
            continue
        try:
            model = b64decode(right, "model id")
            pre = b64decode(left, "prefix")
        except ApiError:
            continue
        if REPO_ID_RE.match(model):
            return pre, model
    raise ApiError(400, "expected /<base64 prefix>/<base64 model id> (model id 'org/name')")
