"""One file from the hub into S3: streamed, hashed as it streams, resumable by any replica.

    hub --(Range from the first missing part)--> sha256 + size --> S3 parts --> complete

- The file goes up in fixed-size parts (`partSize`, kept in the job's status). The upload id
  and the count of completed parts are in the status, so a replica that takes the job over
  lists the parts S3 already has (ListParts), keeps the complete run 1..k and asks the hub
  only for `Range: bytes=<k * partSize>-`: at most the unfinished parts are downloaded again.
- Within one process a cut or stalled download resumes from the last byte received (the hash
  simply continues). A resumed file cannot continue another process's hash, so after a
  takeover the finished object is read back from S3 (not from the hub) and verified; a
  mismatch deletes it. Without a takeover the hash is checked before completing: a mismatch
  aborts the upload and no object (not even a partial one) appears.
- Memory: one part filling plus `parts_in_flight` parts uploading, whatever the file's size.
- Failures abort this file's upload. Cancellation does not: the job decides (a user's cancel
  aborts everything; a handover to another replica keeps the upload for it to resume).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from odh_core import ApiError

from .hub import HubClient, HubRetryable, ModelInfo

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

log = logging.getLogger("odh.plugin.hf.transfer")

MiB = 1024 * 1024
MAX_PARTS = 10_000


class FileFailed(Exception):
    """A file that cannot be imported (final); the message is safe to show."""


@dataclass
class TransferStats:
    """Observed by tests, metrics and bench.hf."""

    in_flight: int = 0
    peak_in_flight: int = 0
    files_transferred: int = 0
    files_skipped: int = 0
    bytes_transferred: int = 0
    gauge: Any = None
    downloaded: Any = None  # a Prometheus counter of bytes received from the hub

    def received(self, n: int) -> None:
        self.bytes_transferred += n
        if self.downloaded is not None:
            self.downloaded.inc(n)

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
    part_size: int = 8 * MiB


def plan_part_size(size: int, base: int) -> int:
    """Whole MiB, >= 5 MiB and >= base, so that `size` fits in 10,000 parts."""
    needed = -(-size // MAX_PARTS)
    return max(base, 5 * MiB, -(-needed // MiB) * MiB)


@dataclass
class FileProgress:
    """One file's entry in the job's status (what a takeover resumes from)."""

    path: str
    key: str
    size: int
    sha256: str | None
    state: str = "queued"  # queued | uploading | completed | skipped | failed | cancelled
    bytes: int = 0
    upload_id: str | None = None
    part_size: int = 0
    parts: int = 0
    attempts: int = 0
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.state in ("completed", "skipped", "failed")

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "bytes": self.bytes, "sha256": self.sha256,
                "uploadId": self.upload_id, "partSize": self.part_size or None,
                "parts": self.parts, "attempts": self.attempts, "error": self.error}

    @classmethod
    def restore(cls, spec: dict[str, Any], st: dict[str, Any] | None) -> "FileProgress":
        st = st or {}
        fp = cls(spec["path"], spec["key"], int(spec["size"]), spec.get("sha256"))
        fp.state = st.get("state") or "queued"
        if fp.state in ("uploading", "cancelled"):
            fp.state = "queued"  # a takeover: whatever ran before starts again from status
        fp.upload_id = st.get("uploadId") or None
        fp.part_size = int(st.get("partSize") or 0)
        fp.parts = int(st.get("parts") or 0)
        fp.bytes = int(st.get("bytes") or 0) if fp.done else fp.parts * fp.part_size
        fp.attempts = int(st.get("attempts") or 0)
        fp.error = st.get("error")
        return fp


def s3_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


@dataclass
class Transfer:
    """Imports one file with `s3` (an aiobotocore client); `changed()` after each step."""

    hub: HubClient
    s3: Any
    info: ModelInfo
    bucket: str
    file: FileProgress
    token: str | None
    settings: TransferSettings
    stats: TransferStats
    changed: Callable[[], None]
    _received: int = field(default=0, init=False)

    async def run(self) -> None:
        f = self.file
        try:
            if f.upload_id is None and f.parts == 0 and await self._already_there():
                f.state, f.bytes = "skipped", f.size
                self.stats.files_skipped += 1
                return
            f.state = "uploading"
            self.changed()
            if f.size < max(self.settings.part_size, 5 * MiB) and f.upload_id is None:
                await self._put_small()
            else:
                await self._multipart()
            f.state, f.bytes, f.upload_id = "completed", f.size, None
            self.stats.files_transferred += 1
        except (FileFailed, ApiError) as exc:
            f.state, f.error = "failed", getattr(exc, "message", None) or str(exc)
            await self._abort()
        except asyncio.CancelledError:
            raise  # the job decides whether the upload is aborted or kept for a takeover
        except Exception as exc:  # S3 errors and the like: this file fails, others go on
            log.warning("import of %s failed: %s", f.key, type(exc).__name__, exc_info=True)
            f.state, f.error = "failed", _describe(exc)
            await self._abort()
        finally:
            self.changed()

    async def _already_there(self) -> bool:
        """Same key, same size: done before (a re-run resumes instead of starting over)."""
        try:
            head = await self.s3.head_object(Bucket=self.bucket, Key=self.file.key)
        except Exception as exc:
            if s3_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return int(head.get("ContentLength", -1)) == self.file.size

    def _content_type(self) -> str:
        return mimetypes.guess_type(self.file.path)[0] or "application/octet-stream"

    async def _abort(self) -> None:
        f = self.file
        if f.upload_id is None:
            return
        try:
            await asyncio.shield(self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=f.key, UploadId=f.upload_id))
        except Exception as exc:  # the job's final sweep tries again
            log.warning("abort of %s failed: %s", f.key, type(exc).__name__)
        f.upload_id, f.parts = None, 0

    # -- small files: one PUT -----------------------------------------------------------------
    async def _put_small(self) -> None:
        chunks: list[bytes] = []
        digest = hashlib.sha256()

        async def sink(chunk: bytes) -> None:
            chunks.append(chunk)

        await self._download(0, digest, sink)
        self._check(digest)
        await self.s3.put_object(Bucket=self.bucket, Key=self.file.key, Body=b"".join(chunks),
                                 ContentType=self._content_type())

    def _check(self, digest: Any) -> None:
        f = self.file
        if f.sha256 and digest.hexdigest() != f.sha256:
            raise FileFailed(f"sha256 mismatch: the hub declared {f.sha256}, the bytes "
                             f"received hash to {digest.hexdigest()}; nothing was stored")

    # -- large files: resumable multipart -----------------------------------------------------
    async def _kept_parts(self) -> dict[int, str]:
        """Parts 1..k already in S3 (ListParts), k as large as the complete run allows."""
        f = self.file
        found: dict[int, tuple[str, int]] = {}
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": f.key, "UploadId": f.upload_id}
        try:
            while True:
                page = await self.s3.list_parts(**kwargs)
                for p in page.get("Parts") or []:
                    found[int(p["PartNumber"])] = (p["ETag"], int(p["Size"]))
                if not page.get("IsTruncated"):
                    break
                kwargs["PartNumberMarker"] = page["NextPartNumberMarker"]
        except Exception as exc:
            if s3_code(exc) in ("NoSuchUpload", "404"):
                f.upload_id, f.parts = None, 0
                return {}
            raise
        kept: dict[int, str] = {}
        n = 1
        while n in found and found[n][1] == f.part_size and n * f.part_size < f.size:
            kept[n] = found[n][0]
            n += 1
        return kept

    async def _multipart(self) -> None:
        f = self.file
        kept: dict[int, str] = {}
        if f.upload_id is not None and f.part_size:
            kept = await self._kept_parts()
        if f.upload_id is None:
            f.part_size = plan_part_size(f.size, self.settings.part_size)
            resp = await self.s3.create_multipart_upload(Bucket=self.bucket, Key=f.key,
                                                         ContentType=self._content_type())
            f.upload_id = resp["UploadId"]
        resumed = bool(kept)
        start = len(kept) * f.part_size
        f.parts, f.bytes = len(kept), start
        self.changed()
        parts = dict(kept)
        uploads: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []
        slots = asyncio.Semaphore(max(1, self.settings.parts_in_flight))
        buffer: list[bytes] = []
        buffered = 0
        number = len(kept) + 1
        digest = hashlib.sha256()

        def advance() -> None:
            while f.parts + 1 in parts:
                f.parts += 1
            self.changed()

        async def upload(n: int, body: bytes) -> None:
            try:
                resp = await self.s3.upload_part(Bucket=self.bucket, Key=f.key,
                                                 UploadId=f.upload_id, PartNumber=n, Body=body)
                parts[n] = resp["ETag"]
                advance()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                errors.append(exc)
            finally:
                slots.release()

        async def flush() -> None:
            nonlocal buffer, buffered, number
            if errors:
                raise errors[0]
            body = b"".join(buffer)
            buffer, buffered = [], 0
            await slots.acquire()
            task = asyncio.create_task(upload(number, body))
            uploads.add(task)
            task.add_done_callback(uploads.discard)
            number += 1

        async def sink(chunk: bytes) -> None:
            nonlocal buffered
            while chunk:
                room = f.part_size - buffered
                buffer.append(chunk[:room])
                buffered += min(room, len(chunk))
                chunk = chunk[room:]
                if buffered == f.part_size:
                    await flush()

        try:
            await self._download(start, digest, sink)
            if buffered:
                await flush()
            while uploads:
                await asyncio.gather(*list(uploads))
            if errors:
                raise errors[0]
            if not resumed:
                self._check(digest)
            await self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=f.key, UploadId=f.upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": parts[n]}
                                           for n in sorted(parts)]})
            f.upload_id = None
        finally:
            for task in list(uploads):
                task.cancel()
            if uploads:
                await asyncio.gather(*list(uploads), return_exceptions=True)
        if resumed and f.sha256:
            await self._verify_stored()

    async def _verify_stored(self) -> None:
        """After a takeover: hash the stored object (streamed from S3); delete it on mismatch."""
        f = self.file
        digest = hashlib.sha256()
        obj = await self.s3.get_object(Bucket=self.bucket, Key=f.key)
        async with obj["Body"] as body:
            while chunk := await body.read(self.settings.chunk_size):
                digest.update(chunk)
        if digest.hexdigest() != f.sha256:
            await self.s3.delete_object(Bucket=self.bucket, Key=f.key)
            raise FileFailed(f"sha256 mismatch after resuming: the hub declared {f.sha256}, "
                             f"the stored object hashes to {digest.hexdigest()}; it was "
                             "deleted")

    # -- the hub ------------------------------------------------------------------------------
    async def _download(self, start: int, digest: Any, sink: Callable[[bytes], Any]) -> None:
        """Bytes `start`..end of the file into `sink`, retrying cuts with Range from the last
        byte received."""
        import aiohttp

        f = self.file
        self._received = start
        failures = 0
        while True:
            f.attempts += 1
            before = self._received
            try:
                await self._fetch(digest, sink)
                if self._received == f.size:
                    return
                raise HubRetryable(f"the download ended early at byte {self._received}")
            except (HubRetryable, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError,
                    asyncio.TimeoutError) as exc:
                failures = 0 if self._received > before else failures + 1
                if failures > self.settings.retries:
                    raise FileFailed(f"download failed after {self.settings.retries} "
                                     f"retries: {_describe(exc)}") from None
                delay = min(self.settings.backoff * 2 ** max(failures - 1, 0),
                            self.settings.backoff_max)
                log.info("retrying %s from byte %d in %.1fs (%s)", f.path, self._received,
                         delay, _describe(exc))
                await asyncio.sleep(delay)

    async def _fetch(self, digest: Any, sink: Callable[[bytes], Any]) -> None:
        f = self.file
        received = self._received
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
                first = resp.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
                if first != str(received):
                    raise HubRetryable(f"the hub resumed at {first!r}, not {received}")
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
                await sink(chunk)
                received += len(chunk)
                self._received = received
                f.bytes = received
                self.stats.received(len(chunk))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return exc.message
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
