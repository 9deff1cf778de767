"""Errors a handler raises to answer with a JSON error body."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """An error that becomes `{success:false, error, message, ...}` with `status`.

    `error` defaults to the HTTP reason phrase ("Not Found"), which is what the old Fastify
    backends put there; `extra` fields are merged into the body (frontends ignore unknown keys).
    """

    def __init__(self, status: int, message: str, *, error: str | None = None,
                 extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error or reason_phrase(status)
        self.extra = extra or {}
        self.headers = headers or {}


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
