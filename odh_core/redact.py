"""Keep tokens, cookies and secrets out of logs and responses."""
from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode

MASK = "***"
SENSITIVE_HEADERS = frozenset({
    "authorization", "cookie", "set-cookie", "x-forwarded-access-token", "proxy-authorization",
    "x-auth-request-access-token", "x-amz-security-token", "sec-websocket-protocol",
})
SENSITIVE_KEY = re.compile(r"(token|secret|password|passwd|signature|credential|api[-_]?key|"
                           r"access[-_]?key|authorization|cookie|session)", re.I)
# Free text: bearer tokens, OpenShift tokens, k8s websocket subprotocol tokens, JWTs, and
# key=value / "key": "value" pairs whose key looks sensitive.
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"sha256~[A-Za-z0-9_\-]+"),
    re.compile(r"(base64url\.bearer\.authorization\.k8s\.io\.)[A-Za-z0-9_\-=]+"),
    re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),
    re.compile(r"(?i)((?:token|secret|password|signature|credential|api[-_]?key|access[-_]?key)"
               r"[A-Za-z_\-]*[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"),
]


def redact_text(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (MASK if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


def redact_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, MASK if SENSITIVE_KEY.search(k) else v) for k, v in pairs])


def redact_uri(uri: str) -> str:
    path, sep, query = uri.partition("?")
    return path + sep + redact_query(query) if sep else path


def redact_mapping(data: Any) -> Any:
    """Recursively mask values whose key looks sensitive (for config dumps, audit)."""
    if isinstance(data, Mapping):
        return {k: (MASK if isinstance(k, str) and SENSITIVE_KEY.search(k) and v
                    else redact_mapping(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_mapping(v) for v in data]
    return data
