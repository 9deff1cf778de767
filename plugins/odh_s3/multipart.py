"""Streaming writes into S3: buffer to part size, upload parts with bounded parts in flight.

`MultipartWriter` is the one implementation behind the upload route and the hf plugin's
imports (reached through `app.service("s3.access").multipart_writer(...)`):

    writer = access.multipart_writer(bucket, key, expected_size=n, content_type="...")
    try:
        async for chunk in source:
            await writer.write(chunk)      # waits while `max_in_flight` parts are uploading
        result = await writer.complete()   # {"Bucket", "Key", "ETag", "Size", "Parts"}
    except BaseException:
        await writer.abort()               # no partial object, no open multipart upload
        raise

Memory is bounded by about `part_size * (max_in_flight + 1)` whatever the object's size.
Objects smaller than one part go up with a single PutObject (no multipart upload at all).

Part size: at least 5 MiB (S3's minimum for all but the last part) and large enough that
`expected_size` fits in 10,000 parts. When the size is unknown the part size grows with the
part number (doubling every 1,000 parts), so even then 5 TiB fits in 10,000 parts while small
objects keep small parts.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024**4  # 5 TiB, S3's limit
# 6 MiB x (3 in flight + 1 filling) keeps a 1 GiB upload under 64 MiB of RSS growth
# (bench.s3 measured 66 MiB with 8 MiB parts); moto, not part count, bounds throughput.
DEFAULT_PART_SIZE = 6 * MiB
DEFAULT_IN_FLIGHT = 3
_GROWTH_EVERY = 1_000

log = logging.getLogger("odh.plugin.s3.multipart")


class UploadTooLarge(ValueError):
    """More bytes than S3 accepts in one object (or than the part plan allows)."""


def plan_part_size(expected_size: int | None, base: int = DEFAULT_PART_SIZE) -> int:
    """The smallest part size (whole MiB, >= 5 MiB, >= base) that fits `expected_size` in
    10,000 parts; `base` when the size is unknown (then parts grow, see `part_size_for`)."""
    base = max(base, MIN_PART_SIZE)
    if not expected_size:
        return base
    needed = -(-expected_size // MAX_PARTS)
    needed = -(-needed // MiB) * MiB
    return max(base, needed)


def part_size_for(part_number: int, planned: int, size_known: bool) -> int:
    """Size of part `part_number` (1-based): fixed when the size is known, else growing."""
    if size_known:
        return planned
    return planned * (2 ** ((part_number - 1) // _GROWTH_EVERY))


ClientGetter = Callable[[], Awaitable[Any]]


class MultipartWriter:
    """Write an object of unknown or known size to S3 in parts. See the module docstring.

    Not safe for concurrent `write` calls (one producer). `write` raises the first part
    upload's error; after any error call `abort()` (idempotent, also fine after `complete`
    failed). `bytes_written` counts bytes accepted by `write`; `bytes_uploaded` those S3 has
    acknowledged (for progress reports).
    """

    def __init__(self, client: Any, bucket: str, key: str, *, expected_size: int | None = None,
                 content_type: str | None = None, part_size: int | None = None,
                 max_in_flight: int = DEFAULT_IN_FLIGHT, metadata: dict[str, str] | None = None,
                 on_release: Callable[[], None] | None = None):
        if expected_size is not None and expected_size > MAX_OBJECT_SIZE:
            raise UploadTooLarge(f"{expected_size} bytes exceed S3's 5 TiB object limit")
        self.client = client
        self.bucket = bucket
        self.key = key
        self.expected_size = expected_size
        self.content_type = content_type
        self.metadata = metadata or {}
        self.max_in_flight = max(1, max_in_flight)
        self._size_known = bool(expected_size)
        self._planned = plan_part_size(expected_size, part_size or DEFAULT_PART_SIZE)
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._next_part = 1
        self._parts: dict[int, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.max_in_flight)
        self._error: BaseException | None = None
        self.upload_id: str | None = None
        self.bytes_written = 0
        self.bytes_uploaded = 0
        self.state = "open"  # open -> completed | aborted
        self._on_release = on_release

    # -- public -------------------------------------------------------------------------------
    @property
    def part_size(self) -> int:
        """The size of the part being filled now."""
        return part_size_for(self._next_part, self._planned, self._size_known)

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        """Accept bytes; waits (backpressure) while `max_in_flight` parts are uploading."""
        self._check_open()
        if not chunk:
            return
        data = bytes(chunk) if not isinstance(chunk, bytes) else chunk
        if self.bytes_written + len(data) > MAX_OBJECT_SIZE:
            raise UploadTooLarge("the object would exceed S3's 5 TiB limit")
        self.bytes_written += len(data)
        while data:
            room = self.part_size - self._buffered
            if len(data) < room:
                self._chunks.append(data)
                self._buffered += len(data)
                return
            # Split the chunk so the part is exactly part_size: one join, no re-slicing.
            self._chunks.append(data[:room])
            self._buffered += room
            data = data[room:]
            await self._flush_part()

    async def complete(self) -> dict[str, Any]:
        """Upload what is buffered and finish the object; returns Bucket/Key/ETag/Size/Parts."""
        self._check_open()
        try:
            if self.upload_id is None:
                body = b"".join(self._chunks)
                self._chunks, self._buffered = [], 0
                resp = await self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body,
                                                    **self._object_args())
                self.bytes_uploaded = len(body)
                self.state = "completed"
                self._release()
                return {"Bucket": self.bucket, "Key": self.key, "ETag": resp.get("ETag"),
                        "Size": len(body), "Parts": 0}
            if self._buffered:
                await self._flush_part()
            await self._drain()
            parts = [{"PartNumber": n, "ETag": self._parts[n]} for n in sorted(self._parts)]
            resp = await self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                MultipartUpload={"Parts": parts})
            self.state = "completed"
            self._release()
            return {"Bucket": self.bucket, "Key": self.key, "ETag": resp.get("ETag"),
                    "Size": self.bytes_written, "Parts": len(parts)}
        except BaseException as exc:
            self._error = self._error or exc
            raise

    async def abort(self) -> bool:
        """Stop: cancel parts in flight and abort the multipart upload. Idempotent.

        Never raises for an unreachable S3 (it logs instead); returns False when the abort
        could not be confirmed (a bucket lifecycle rule for incomplete uploads cleans up).
        """
        if self.state != "open":
            return True
        self.state = "aborted"
        self._chunks, self._buffered = [], 0
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            if self.upload_id is not None:
                # Shielded: an abort must reach S3 even when the caller is being cancelled.
                return await asyncio.shield(self._abort_upload())
            return True
        finally:
            self._release()

    async def __aenter__(self) -> "MultipartWriter":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None or self.state == "open":
            await self.abort()

    # -- internals ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.state != "open":
            raise RuntimeError(f"the writer for {self.key!r} is {self.state}")
        if self._error is not None:
            raise self._error

    def _object_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.content_type:
            args["ContentType"] = self.content_type
        if self.metadata:
            args["Metadata"] = self.metadata
        return args

    async def _flush_part(self) -> None:
        if self.upload_id is None:
            resp = await self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, **self._object_args())
            self.upload_id = resp["UploadId"]
        number = self._next_part
        if number > MAX_PARTS:
            raise UploadTooLarge("the object needs more than 10,000 parts")
        body = b"".join(self._chunks)
        self._chunks, self._buffered = [], 0
        self._next_part += 1
        await self._slots.acquire()  # backpressure: at most max_in_flight parts
        if self._error is not None:
            self._slots.release()
            raise self._error
        task = asyncio.create_task(self._upload_part(number, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _upload_part(self, number: int, body: bytes) -> None:
        try:
            resp = await self.client.upload_part(Bucket=self.bucket, Key=self.key,
                                                 UploadId=self.upload_id, PartNumber=number,
                                                 Body=body)
            self._parts[number] = resp["ETag"]
            self.bytes_uploaded += len(body)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if self._error is None:
                self._error = exc
        finally:
            self._slots.release()

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._error is not None:
            raise self._error

    async def _abort_upload(self) -> bool:
        try:
            await self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                     UploadId=self.upload_id)
            return True
        except Exception as exc:  # S3 down: report; a lifecycle rule for incomplete uploads
            log.warning("could not abort multipart upload of %s/%s: %s", self.bucket, self.key,
                        type(exc).__name__)
            return False

    def _release(self) -> None:
        if self._on_release is not None:
            cb, self._on_release = self._on_release, None
            cb()
