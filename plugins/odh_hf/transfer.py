"""One file from the hub into S3: streamed, hashed as it streams, resumed, verified.

    hub --(aiohttp, Range on retry)--> sha256 + size check --> MultipartWriter --> S3

- Memory: aiohttp's read buffer (paused when full) plus the writer's bounded parts in flight;
  nothing grows with the file's size.
- A cut, stalled or 5xx download is retried with exponential backoff, resuming with
  `Range: bytes=<received>-`; the hash object simply continues, so no byte is hashed twice.
- The size, and the sha256 for LFS files, are checked BEFORE the multipart upload is
  completed: a mismatch aborts it, so no object (not even a partial one) appears.
- Any failure or cancellation aborts the multipart upload (the writer's abort is shielded).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp

from odh_core import ApiError

from .hub import HubClient, HubError, HubFile, HubRetryable, ModelInfo

log = logging.getLogger("odh.plugin.hf.transfer")

# Progress is published at most this often per file (plus at every state change).
PROGRESS_EVERY_BYTES = 4 * 1024 * 1024


class FileFailed(Exception):
    """A file that cannot be imported (final); the message is safe to show."""


@dataclass
class FileState:
    path: str
    size: int
    sha256: str | None
    lfs: bool
    key: str
    status: str = "queued"  # queued | uploading | completed | skipped | failed | cancelled
    loaded: int = 0
    attempts: int = 0
    error: str | None = None
    started: float | None = None
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "skipped", "failed", "cancelled")

    def public(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key, "size": self.size, "sha256": self.sha256,
                "lfs": self.lfs, "status": self.status, "loaded": self.loaded,
                "attempts": self.attempts, "error": self.error}


@dataclass
class TransferStats:
    """Observed by tests and metrics: files transferring inside a limiter slot."""

    in_flight: int = 0
    peak_in_flight: int = 0
    files_transferred: int = 0
    files_skipped: int = 0
    bytes_transferred: int = 0
    gauge: Any = None

    def enter(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if self.gauge is not None:
            self.gauge.set(self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1
        if self.gauge is not None:
            self.gauge.set(self.in_flight)


@dataclass
class TransferSettings:
    chunk_size: int = 1024 * 1024
    retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    parts_in_flight: int = 2


@dataclass
class Transfer:
    """Imports one file; `notify` is called on progress and state changes."""

    hub: HubClient
    access: Any  # the s3 plugin's published `s3.access`
    info: ModelInfo
    bucket: str
    file: FileState
    token: str | None
    settings: TransferSettings
    stats: TransferStats
    notify: Callable[[], None]
    user: str | None = None
    _last_notified: int = field(default=0, init=False)

    async def run(self) -> None:
        f = self.file
        try:
            if await self._already_there():
                f.status, f.loaded = "skipped", f.size
                self.stats.files_skipped += 1
                return
            async with self.access.transfers.slot():
                self.stats.enter()
                handle = self.access.transfer_started("import", f"{self.bucket}/{f.key}",
                                                      self.user)
                try:
                    f.status, f.started = "uploading", time.time()
                    self.notify()
                    await self._copy()
                finally:
                    self.access.transfer_finished(handle)
                    self.stats.leave()
            f.status = "completed"
            self.stats.files_transferred += 1
        except asyncio.CancelledError:
            f.status, f.error = "cancelled", "the import was cancelled"
            raise
        except (FileFailed, ApiError) as exc:
            f.status, f.error = "failed", getattr(exc, "message", None) or str(exc)
        except Exception as exc:  # S3 errors and the like: this file fails, others go on
            log.warning("import of %s failed: %s", f.key, type(exc).__name__, exc_info=True)
            f.status, f.error = "failed", _describe(exc)
        finally:
            f.finished = time.time()
            self.notify()

    async def _already_there(self) -> bool:
        """Same key, same size: done before (a re-run resumes instead of starting over)."""
        client = await self.access.client()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=self.file.key)
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return int(head.get("ContentLength", -1)) == self.file.size

    async def _copy(self) -> None:
        f = self.file
        content_type = mimetypes.guess_type(f.path)[0] or "application/octet-stream"
        writer = self.access.multipart_writer(self.bucket, f.key, expected_size=f.size or None,
                                              content_type=content_type,
                                              max_in_flight=self.settings.parts_in_flight)
        try:
            digest = hashlib.sha256()
            f.loaded = 0  # bytes received, hashed and written: where a retry resumes
            failures = 0
            while True:
                f.attempts += 1
                before = f.loaded
                try:
                    await self._download(writer, digest)
                    if f.loaded == f.size:
                        break
                    raise HubRetryable(f"the download ended early at byte {f.loaded}")
                except (HubRetryable, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError,
                        asyncio.TimeoutError) as exc:
                    failures = 0 if f.loaded > before else failures + 1
                    if failures > self.settings.retries:
                        raise FileFailed(f"download failed after {self.settings.retries} "
                                         f"retries: {_describe(exc)}") from None
                    delay = min(self.settings.backoff * 2 ** max(failures - 1, 0),
                                self.settings.backoff_max)
                    log.info("retrying %s from byte %d in %.1fs (%s)", f.path, f.loaded, delay,
                             _describe(exc))
                    await asyncio.sleep(delay)  # backoff before the next attempt
            if f.sha256 and digest.hexdigest() != f.sha256:
                raise FileFailed(f"sha256 mismatch: the hub declared {f.sha256}, the bytes "
                                 f"received hash to {digest.hexdigest()}; nothing was stored")
            await writer.complete()
        except BaseException:
            await writer.abort()
            raise

    async def _download(self, writer: Any, digest: Any) -> None:
        """Stream from byte `file.loaded` on, advancing it chunk by chunk (raises on a cut;
        what arrived before the cut is kept, hashed and written, so a retry resumes there)."""
        f = self.file
        received = f.loaded
        headers = {"Accept-Encoding": "identity"}
        if received:
            headers["Range"] = f"bytes={received}-"
        async with self.hub.open(self.hub.file_url(self.info, f.path), token=self.token,
                                 headers=headers) as resp:
            if resp.status >= 400:
                raise self.hub.access_error(resp.status, resp.headers.get("X-Error-Code", ""),
                                            resp.headers.get("X-Error-Message", ""),
                                            self.info.repo, self.info.revision, self.token)
            skip = 0
            if received and resp.status == 206:
                start = resp.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
                if start != str(received):
                    raise HubRetryable(f"the hub resumed at {start!r}, not {received}")
            elif received:
                skip = received  # a 200 to a ranged request: drop what we already have
            async for chunk in resp.content.iter_chunked(self.settings.chunk_size):
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                if received + len(chunk) > f.size:
                    raise FileFailed(f"the hub sent more than the declared {f.size} bytes")
                digest.update(chunk)
                await writer.write(chunk)
                received += len(chunk)
                f.loaded = received
                self.stats.bytes_transferred += len(chunk)
                if received - self._last_notified >= PROGRESS_EVERY_BYTES:
                    self._last_notified = received
                    self.notify()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return exc.message
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def file_states(info: ModelInfo, files: list[HubFile], prefix: str) -> dict[str, FileState]:
    return {hf.path: FileState(hf.path, hf.size, hf.sha256, hf.lfs,
                               f"{prefix}{info.repo}/{hf.path}") for hf in files}
