"""Fault injection for tests: latency, error responses, cut watches, refused connections.

Thread-safe (a lock around the rule list) because tests drive it from the pytest thread
while the server consults it on its own loop.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Callable

from .errors import reason_for


@dataclass
class _Rule:
    kind: str                    # "latency" | "error"
    method: str | None
    path_re: re.Pattern[str] | None
    times: int | None
    seconds: float = 0.0
    status: int = 0
    reason: str | None = None
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path_re is None or self.path_re.search(path) is not None


@dataclass(frozen=True)
class InjectedError:
    status: int
    reason: str
    message: str


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        # Set by the server: how to cut watches / stop listening on its own loop.
        self._cut: Callable[[str | None, bool], None] | None = None
        self._refuse: Callable[[float], None] | None = None

    def add_latency(self, seconds: float, *, method: str | None = None,
                    path_regex: str | None = None, times: int | None = None) -> None:
        with self._lock:
            self._rules.append(_Rule("latency", method, _re(path_regex), times,
                                     seconds=seconds))

    def add_error(self, status: int, *, method: str | None = None,
                  path_regex: str | None = None, times: int | None = None,
                  reason: str | None = None, message: str | None = None) -> None:
        with self._lock:
            self._rules.append(_Rule("error", method, _re(path_regex), times, status=status,
                                     reason=reason, message=message))

    def cut_watches(self, path_regex: str | None = None, *, graceful: bool = False) -> None:
        """End open watch (and log follow) streams whose path matches. By default the TCP
        connection is dropped mid-stream, as a network cut or an apiserver crash does;
        graceful=True ends them like a server-side timeout."""
        if self._cut is not None:
            self._cut(path_regex, graceful)

    def refuse_connections(self, seconds: float) -> None:
        """Stop listening for `seconds` (new connections get ECONNREFUSED)."""
        if self._refuse is not None:
            self._refuse(seconds)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def match(self, method: str, path: str) -> tuple[float, InjectedError | None]:
        """Consume matching rules: total added latency and the first injected error."""
        delay, err = 0.0, None
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, path):
                    continue
                if rule.kind == "latency":
                    delay += rule.seconds
                elif err is None:
                    reason = rule.reason or reason_for(rule.status)
                    err = InjectedError(rule.status, reason,
                                        rule.message or f"injected fault: {reason}")
                else:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
        return delay, err


def _re(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None
