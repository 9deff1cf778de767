"""Container log buffers for pods/<name>/log, with followers woken on append."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone

LogKey = tuple[str, str, str]   # namespace, pod, container


def rfc3339nano(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


@dataclass
class LogBuffer:
    lines: list[tuple[str, str]] = field(default_factory=list)   # (timestamp, text)
    followers: set[asyncio.Queue[tuple[str, str] | None]] = field(default_factory=set)


class LogStore:
    """Per-container log lines, bounded so a chatty demo cannot grow memory forever."""

    def __init__(self, max_lines: int = 10_000) -> None:
        self._buffers: dict[LogKey, LogBuffer] = {}
        self.max_lines = max_lines

    def buffer(self, key: LogKey) -> LogBuffer:
        return self._buffers.setdefault(key, LogBuffer())

    def append(self, namespace: str, pod: str, container: str, line: str) -> None:
        buf = self.buffer((namespace, pod, container))
        entry = (rfc3339nano(datetime.now(timezone.utc)), line.rstrip("\n"))
        buf.lines.append(entry)
        if len(buf.lines) > self.max_lines:
            del buf.lines[: len(buf.lines) - self.max_lines]
        for q in list(buf.followers):
            q.put_nowait(entry)

    def end_pod(self, namespace: str, pod: str) -> None:
        """The pod is gone: end its followers and drop its logs."""
        for key in [k for k in self._buffers if k[0] == namespace and k[1] == pod]:
            for q in self._buffers[key].followers:
                q.put_nowait(None)
            del self._buffers[key]

    def end_all(self) -> None:
        for buf in self._buffers.values():
            for q in buf.followers:
                q.put_nowait(None)
