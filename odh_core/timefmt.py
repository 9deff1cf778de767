"""UTC timestamps as responses and log lines carry them: `2026-11-22T22:05:00.123Z`."""
from __future__ import annotations

import time


class UtcStamp:
    """Formats epoch seconds. strftime runs once per second, not once per call: every response
    envelope and every log line carries a timestamp. The cache is one tuple, so a thread
    reading it never sees the second of one call with the text of another."""

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        self._cached: tuple[int, str] = (-1, "")

    def __call__(self, created: float) -> str:
        second = int(created)
        cached_second, text = self._cached
        if second != cached_second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._cached = (second, text)
        return f"{text}.{int((created - second) * 1000):03d}Z"
