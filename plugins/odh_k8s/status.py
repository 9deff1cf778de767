"""Kubernetes `Status` bodies the pass-through has to make up itself."""
from __future__ import annotations

from typing import Any

# What a Go API server sends for a path it has no handler for (a group it does not serve,
# i.e. a CRD that is not installed): text, not a Status. The UI detects "not installed" from a
# 404 Status with reason NotFound, so this one answer is translated.
PLAIN_NOT_FOUND = b"404 page not found"


def not_found_status() -> dict[str, Any]:
    # client-go turns the plain 404 into exactly this message.
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server could not find the requested resource",
            "reason": "NotFound", "details": {}, "code": 404}
