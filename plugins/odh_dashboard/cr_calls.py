"""Helpers of the settings routes (connection types, templates, model registries, notebooks):
the "not installed" 404, json-patch bodies, `dryRun`, and object bodies checked before they
reach the API server."""
from __future__ import annotations

import json
from typing import Any

from odh_core import ApiError, KubeClient, KubeError

from .names import check_label, check_subdomain

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
PATCH_OPS = {"add", "remove", "replace", "move", "copy", "test"}
MAX_SELECTOR = 1024


def not_installed(exc: KubeError, what: str) -> ApiError:
    """A 404 without a Status body is the API server's plain `404 page not found`: the group or
    kind is not served (its CRD is missing). Say so; other errors pass unchanged."""
    if exc.status == 404 and exc.status_body is None:
        return ApiError(404, f"{what} is not installed on this cluster (the API server does "
                        "not serve the kind)", extra={"reason": "NotFound"})
    return exc


async def call(kube: KubeClient, method: str, path: str, what: str, *, token: Any,
               **kwargs: Any) -> Any:
    """`kube.json` with the not-installed 404 named after `what`."""
    try:
        return await kube.json(method, path, token=token, **kwargs)
    except KubeError as exc:
        raise not_installed(exc, what) from None


def _pointer(value: Any) -> bool:
    """A JSON Pointer (RFC 6901) below the root: '/'-separated, '~' only as ~0 or ~1."""
    return isinstance(value, str) and value.startswith("/") and all(
        part[i + 1:i + 2] in ("0", "1") for part in value.split("/")
        for i, c in enumerate(part) if c == "~")


def json_patch_body(body: Any) -> bytes:
    """A JSON Patch (RFC 6902) list, checked for shape (each op's own members too); 400
    otherwise."""
    if not isinstance(body, list) or not body:
        raise ApiError(400, "the body must be a non-empty JSON Patch list of operations")
    for op in body:
        if not isinstance(op, dict) or op.get("op") not in PATCH_OPS or not _pointer(
                op.get("path")):
            raise ApiError(400, "every JSON Patch operation needs an op (add, remove, replace, "
                           "move, copy, test) and a JSON Pointer path starting with '/'")
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise ApiError(400, f"JSON Patch operation {op['op']!r} needs a value")
        if op["op"] in ("move", "copy") and not _pointer(op.get("from")):
            raise ApiError(400, f"JSON Patch operation {op['op']!r} needs a JSON Pointer 'from'")
    return json.dumps(body).encode()


def dry_run_arg(value: str | None) -> dict[str, str]:
    """`?dryRun=` as the API server takes it: absent or `All`; 400 for anything else."""
    if value in (None, ""):
        return {}
    if value != "All":
        raise ApiError(400, "dryRun must be All")
    return {"dryRun": "All"}


def label_selector(value: str | None) -> dict[str, str]:
    """A label selector passed on (the API server parses it and answers 400 when invalid)."""
    if not value:
        return {}
    if len(value) > MAX_SELECTOR or any(c in value for c in "\n\r\0"):
        raise ApiError(400, "labelSelector is too long or holds control characters")
    return {"labelSelector": value}


def meta_of(obj: Any, *, what: str = "body") -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ApiError(400, f"{what} must be a JSON object")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ApiError(400, f"{what}.metadata must be an object")
    return meta


def check_object_name(meta: dict[str, Any], what: str) -> None:
    """metadata.name (or generateName) is a DNS-1123 subdomain; 400 otherwise."""
    if meta.get("name") is None and isinstance(meta.get("generateName"), str):
        check_subdomain(meta["generateName"].rstrip("-.") or "x", f"{what} generateName")
    else:
        check_subdomain(meta.get("name"), f"{what} name")  # type: ignore[arg-type]


def object_namespace(meta: dict[str, Any], what: str) -> str:
    return check_label(meta.get("namespace"), f"{what} metadata.namespace")  # type: ignore[arg-type]
