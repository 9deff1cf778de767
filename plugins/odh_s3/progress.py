"""Per-user, per-key upload progress that the SSE route reads, and per-key aborts."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

KEEP_FINISHED_S = 60.0  # finished entries are forgotten after this
# A reader arriving this soon after an upload ended (nobody saw the end yet) is taken to be the
# reader of that upload (it lost the race with a small, fast upload); later readers wait for
# the next upload of the key.
LATE_READER_S = 10.0


class UploadProgress:
    """One upload's state; each change bumps `version` and wakes the SSE readers."""

    def __init__(self, user: str, key: str):
        self.user = user
        self.key = key
        self.loaded = 0
        self.status = "pending"  # pending -> uploading -> completed | error
        self.error: dict[str, Any] | None = None
        self.version = 0
        self.cancel: Callable[[], None] | None = None
        self.finished_at: float | None = None
        self.subscribers = 0
        self.done_bytes: int | None = None  # size of the finished object
        self.consumed = False  # a reader saw the final state
        self._event = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "error")

    def update(self, *, loaded: int | None = None, status: str | None = None,
               error: dict[str, Any] | None = None) -> None:
        changed = False
        if loaded is not None and loaded != self.loaded:
            self.loaded, changed = loaded, True
        if status is not None and status != self.status:
            self.status, changed = status, True
            if self.finished:
                self.finished_at = time.monotonic()
                self.cancel = None
        if error is not None:
            self.error, changed = error, True
        if changed:
            self.version += 1
            event, self._event = self._event, asyncio.Event()
            event.set()

    async def wait_change(self, seen: int, timeout: float) -> bool:
        """Wait until `version` differs from `seen`; False on timeout."""
        if self.version != seen:
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


class ProgressRegistry:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], UploadProgress] = {}

    def _prune(self) -> None:
        now = time.monotonic()
        for k, e in list(self._entries.items()):
            if e.finished and e.subscribers == 0 and now - (e.finished_at or now) > \
                    KEEP_FINISHED_S:
                del self._entries[k]

    def subscribe(self, user: str, key: str) -> UploadProgress:
        """The entry an SSE reader follows (created pending if the upload has not begun)."""
        self._prune()
        entry = self._entries.get((user, key))
        if entry is None or entry.finished and (
                entry.consumed or time.monotonic() - (entry.finished_at or 0) > LATE_READER_S):
            entry = self._entries[(user, key)] = UploadProgress(user, key)
        entry.subscribers += 1
        return entry

    def unsubscribe(self, entry: UploadProgress) -> None:
        entry.subscribers -= 1
        if entry.subscribers <= 0 and entry.status == "pending" and \
                self._entries.get((entry.user, entry.key)) is entry:
            del self._entries[(entry.user, entry.key)]

    def start(self, user: str, key: str, cancel: Callable[[], None]) -> UploadProgress:
        """Register a starting upload; readers already waiting for this key follow it."""
        self._prune()
        entry = self._entries.get((user, key))
        if entry is None or entry.status != "pending":
            if entry is not None and entry.status == "uploading" and entry.cancel:
                entry.cancel()  # a new upload of the same key replaces the running one
            entry = self._entries[(user, key)] = UploadProgress(user, key)
        entry.cancel = cancel
        entry.update(status="uploading", loaded=0)
        return entry

    def running(self, user: str, key: str | None = None) -> list[UploadProgress]:
        return [e for (u, k), e in self._entries.items()
                if u == user and (key is None or k == key) and e.status == "uploading"]
