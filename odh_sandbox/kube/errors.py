"""Kubernetes `Status` error bodies, shaped exactly like kube-apiserver's."""
from __future__ import annotations

from typing import Any

# HTTP code -> the StatusReason kube-apiserver uses for it when nothing more specific applies.
_DEFAULT_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Gone",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def reason_for(code: int) -> str:
    return _DEFAULT_REASONS.get(code, "Unknown" if code < 500 else "InternalError")


def status_body(code: int, message: str, reason: str | None = None,
                details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or reason_for(code),
    }
    if details:
        body["details"] = details
    body["code"] = code
    return body


class KubeError(Exception):
    """Raised anywhere in request handling; the handler turns it into a Status response."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = status_body(code, message, reason, details)


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(resource: str, group: str, name: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = resource
    return d


def not_found(resource: str, group: str, name: str) -> KubeError:
    return KubeError(404, f'{_qualified(resource, group)} "{name}" not found', "NotFound",
                     _details(resource, group, name))


def already_exists(resource: str, group: str, name: str) -> KubeError:
    return KubeError(409, f'{_qualified(resource, group)} "{name}" already exists',
                     "AlreadyExists", _details(resource, group, name))


def conflict(resource: str, group: str, name: str, why: str | None = None) -> KubeError:
    why = why or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return KubeError(409, f'Operation cannot be fulfilled on {_qualified(resource, group)} '
                          f'"{name}": {why}', "Conflict", _details(resource, group, name))


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> KubeError:
    """causes: (field, reason e.g. FieldValueInvalid, message)."""
    text = ", ".join(f"{field}: {msg}" for field, _, msg in causes)
    kq = f"{kind}.{group}" if group else kind
    d = _details(kind, group, name)
    d["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    if len(causes) > 1:
        text = "[" + text + "]"
    return KubeError(422, f'{kq} "{name}" is invalid: {text}', "Invalid", d)


def bad_request(message: str) -> KubeError:
    return KubeError(400, message, "BadRequest")


def forbidden(resource: str, group: str, name: str | None, user: str, verb: str,
              namespace: str | None, subresource: str = "") -> KubeError:
    res = f"{resource}/{subresource}" if subresource else resource
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    subject = f'{_qualified(resource, group)} "{name}"' if name else _qualified(resource, group)
    msg = (f'{subject} is forbidden: User "{user}" cannot {verb} resource "{res}" '
           f'in API group "{group}" {where}')
    return KubeError(403, msg, "Forbidden", _details(resource, group, name))


def gone_expired(message: str) -> KubeError:
    return KubeError(410, message, "Expired")
