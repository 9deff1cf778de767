"""Fault injection for the sandbox hub, configurable from any thread.

A rule matches a request when its regex is found (``re.search``) in either the request path
(``/org/name/resolve/main/model.safetensors``, ``/cdn/<sha256>``, ``/api/models/org/name``) or
the logical target ``org/name/<file>`` (``org/name`` for API calls), so a rule written against
a file name also hits that file's CDN download. ``on`` narrows a rule to phases: ``"api"``
(model info), ``"resolve"``, ``"cdn"``, ``"whoami"``.

Every rule object counts how often it ``fired`` so a test can prove the fault really happened.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

PHASES = frozenset({"api", "resolve", "cdn", "whoami"})


@dataclass(eq=False)
class FaultRule:
    kind: str  # "drop" | "slow" | "error" | "corrupt"
    pattern: re.Pattern[str]
    times: int | None  # None: unlimited
    on: frozenset[str] | None
    nbytes: int = 0
    status: int = 500
    bytes_per_second: float | None = None
    delay: float = 0.0
    fired: int = field(default=0)

    def matches(self, phase: str, targets: Iterable[str]) -> bool:
        if self.on is not None and phase not in self.on:
            return False
        return any(self.pattern.search(t) for t in targets)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


def _phases(on: str | Iterable[str] | None) -> frozenset[str] | None:
    if on is None:
        return None
    phases = frozenset([on] if isinstance(on, str) else on)
    unknown = phases - PHASES
    if unknown:
        raise ValueError(f"unknown phase(s) {sorted(unknown)}; use {sorted(PHASES)}")
    return phases


class Faults:
    """The fault rules of one hub. Methods are thread-safe; rules apply to new requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def _add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def drop_after(self, pattern: str, nbytes: int, times: int | None = 1,
                   *, on: str | Iterable[str] | None = None) -> FaultRule:
        """Close the connection after ``nbytes`` bytes of a matching response body.

        ``nbytes`` counts from the start of *this* response (a ranged request that starts at
        offset 1000 drops at 1000 + nbytes). Only consumed when the body is longer than
        ``nbytes``, i.e. when the drop really happens.
        """
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        return self._add(FaultRule("drop", re.compile(pattern), times, _phases(on),
                                   nbytes=nbytes))

    def slow(self, pattern: str, bytes_per_second: float | None = None, *,
             delay: float = 0.0, times: int | None = None,
             on: str | Iterable[str] | None = None) -> FaultRule:
        """Wait ``delay`` seconds before answering and/or cap body throughput."""
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be > 0")
        if bytes_per_second is None and delay <= 0:
            raise ValueError("give bytes_per_second and/or delay")
        return self._add(FaultRule("slow", re.compile(pattern), times, _phases(on),
                                   bytes_per_second=bytes_per_second, delay=delay))

    def error(self, pattern: str, status: int = 500, times: int | None = 1,
              *, on: str | Iterable[str] | None = None) -> FaultRule:
        """Answer matching requests with ``status`` and a JSON error, ``times`` times."""
        return self._add(FaultRule("error", re.compile(pattern), times, _phases(on),
                                   status=status))

    def corrupt(self, pattern: str, at: int = 0, times: int | None = 1,
                *, on: str | Iterable[str] | None = None) -> FaultRule:
        """Flip the byte at offset ``at`` of a matching response body (same size, wrong bytes).

        Model info keeps the true sha256, so an importer that verifies hashes must notice.
        ``at`` counts from the start of *this* response, like ``drop_after``.
        """
        if at < 0:
            raise ValueError("at must be >= 0")
        return self._add(FaultRule("corrupt", re.compile(pattern), times, _phases(on),
                                   nbytes=at))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, kind: str, phase: str, targets: Iterable[str],
             *, body_length: int | None = None) -> FaultRule | None:
        """The first live matching rule of ``kind``, counted as fired; None if none applies."""
        targets = list(targets)
        with self._lock:
            for rule in self._rules:
                if rule.kind != kind or rule.exhausted or not rule.matches(phase, targets):
                    continue
                if kind in ("drop", "corrupt") and (body_length is None
                                                    or body_length <= rule.nbytes):
                    continue
                rule.fired += 1
                return rule
        return None
