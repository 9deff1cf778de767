"""Which API-server paths the pass-through forwards, and the request's flavour (stream or not)."""
from __future__ import annotations

import re

from typing import Mapping
from urllib.parse import unquote

from odh_core import ApiError

PREFIX = "/api/k8s/"
# Resource and discovery APIs, the version and the OpenAPI documents. Not /healthz, /metrics,
# /logs, /debug...: nothing the UI needs, and some of it is for cluster operators only.
_ROOTS = {"api", "apis", "openapi"}
_TRUE = {"1", "t", "true"}  # Go's strconv.ParseBool, case-insensitive (kubernetes_asyncio: True)


# /api/clusters/<name>/k8s/<path> addresses a named cluster (kubernetes.clusters).
_CLUSTER_PREFIX = re.compile(r"^/api/clusters/[^/]+/k8s/")


def kube_path(request_path: str) -> str:
    """The raw (still percent-encoded) path after the prefix, checked; no leading slash."""
    m = _CLUSTER_PREFIX.match(request_path)
    if m:
        raw = request_path[m.end():]
    else:
        raw = request_path[len(PREFIX):] if request_path.startswith(PREFIX) else ""
    segments = unquote(raw).split("/")
    # Encoded dots and slashes are decoded before the check: `%2e%2e` is `..` too.
    if any(s in ("..", ".") for s in segments) or "\\" in unquote(raw):
        raise ApiError(400, "the path may not contain '.' or '..' segments")
    root = segments[0]
    if root == "version" and all(s == "" for s in segments[1:]):
        return raw
    if root not in _ROOTS:
        raise ApiError(404, "only api/, apis/, openapi/ and version are forwarded to the "
                       "Kubernetes API server")
    return raw


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


def is_stream(path: str, args: Mapping[str, str | None]) -> bool:
    """A watch (`?watch=true` or the legacy `/watch/` path) or a followed log."""
    legacy_watch = "/watch/" in f"/{path}" and path.split("/", 1)[0] in ("api", "apis")
    return legacy_watch or is_true(args.get("watch")) or is_true(args.get("follow"))


def stream_seconds(args: Mapping[str, str | None]) -> int | None:
    """`timeoutSeconds` of a watch, when it is a sane positive integer."""
    raw = args.get("timeoutSeconds")
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None
