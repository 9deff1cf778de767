"""Streaming upload: multipart/form-data parsed as it arrives, fed into an S3 multipart upload.

The request body is never buffered: `data_received` hands each chunk to the form parser,
whose `file` target writes into a `MultipartWriter`; awaiting the writer (bounded parts in
flight) is the backpressure Tornado applies to the socket. Any failure, a client disconnect or
an abort request aborts the multipart upload: no partial object and no open upload is left.
"""
from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from types import ModuleType
from typing import Any

import tornado.web
from tornado.iostream import StreamClosedError

from odh_core import ApiError, EventStream

from .base import S3Handler
from .codec import b64decode_text
from .errors import s3_api_error
from .multipart import MAX_OBJECT_SIZE, MultipartWriter, UploadTooLarge

log = logging.getLogger("odh.plugin.s3.upload")
KEEPALIVE_S = 15.0


async def formdata() -> ModuleType:
    """The form-data module (see formdata.py), imported in a worker thread the first time."""
    return await asyncio.to_thread(importlib.import_module, ".formdata", __package__)


class _ClientGone(Exception):
    pass


class _Aborted(Exception):
    pass


@tornado.web.stream_request_body
class UploadHandler(S3Handler):
    """POST /api/objects/upload/:bucket/:b64key (multipart, field `file`)."""

    bucket_arg = 0

    writer: MultipartWriter | None = None
    progress: Any = None
    _state = "new"  # new -> receiving -> completing -> done | failed
    _slot: Any = None
    _transfer: Any = None
    _fail_task: "asyncio.Task[None] | None" = None
    _formdata: ModuleType | None = None

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished:
            return
        cfg = self.plugin.config
        self.request.connection.set_max_body_size(cfg.max_upload_size)
        bucket, b64key = self.path_args[0], self.path_args[1]
        self.bucket, self.key = bucket, b64decode_text(b64key)
        if not self.key or self.key.endswith("/"):
            raise ApiError(400, "the key must name an object, not a folder")
        ctype = self.request.headers.get("Content-Type", "")
        if not ctype.lower().startswith("multipart/form-data") or "boundary=" not in ctype:
            raise ApiError(400, "send the file as multipart/form-data with a part named 'file'")
        length = self.request.headers.get("Content-Length")
        self.length = int(length) if length and length.isdigit() else None
        if self.length is not None and self.length > cfg.max_upload_size:
            raise ApiError(413, f"uploads are limited to {cfg.max_upload_size} bytes")
        access = self.access  # 503 when S3 is not configured
        await self.acquire_stream("upload")  # per-user open-stream limit (429)
        fd = self._formdata = await formdata()
        try:
            self.parser = fd.StreamingFormDataParser(headers=self.request.headers)
        except (fd.ParseFailedException, ValueError) as exc:
            raise ApiError(400, f"bad multipart/form-data headers: {exc}") from None
        self.target = fd.FileTarget(self)
        self.parser.register("file", self.target)
        user = self.identity.username
        # Register before waiting for a slot: the progress stream and aborts see it at once.
        self.progress = self.plugin.progress.start(user, self.key, self.cancel)
        slot = access.transfers.slot()
        await slot.__aenter__()  # wait for a free transfer slot; the body waits meanwhile
        self._slot = slot
        if self._state == "failed":  # the client left or aborted while we waited
            await self._release()
            return
        self._transfer = access.transfer_started("upload", self.key, user, cancel=self.cancel)
        self._state = "receiving"
        if self.request.connection.stream is None or self.request.connection.stream.closed():
            await self._fail(_ClientGone())

    def open_writer(self, content_type: str | None) -> None:
        expected = min(self.length, MAX_OBJECT_SIZE) if self.length else None
        self.writer = self.access.multipart_writer(self.bucket, self.key, expected_size=expected,
                                                   content_type=content_type or None)

    async def data_received(self, chunk: bytes) -> None:
        if self._state != "receiving":
            return
        try:
            await self.parser.adata_received(chunk)
        except Exception as exc:
            await self._fail(exc)
            return
        if self.writer is not None and self.progress is not None:
            self.progress.update(loaded=self.writer.bytes_uploaded)

    async def post(self, bucket: str, b64key: str) -> None:
        if self._state != "receiving":
            return  # already answered (failure) or the client left
        self._state = "completing"
        try:
            if self.writer is None:
                raise ApiError(400, "no file part: send the file in a form field named 'file'")
            if not self.target.done:
                raise ApiError(400, "the multipart body ended inside the file part")
            result = await self.writer.complete()
        except Exception as exc:
            await self._fail(exc)
            return
        self._state = "done"
        self.progress.done_bytes = result["Size"]
        self.progress.update(loaded=0, status="completed")
        await self._release()
        self.write_json({"message": "Object uploaded successfully", "key": self.key,
                         "size": result["Size"]})

    # -- failure paths ------------------------------------------------------------------------
    def cancel(self) -> None:
        """Abort requested (abort-upload route, or a newer upload of the same key)."""
        if self._state in ("new", "receiving", "completing") and self._fail_task is None:
            self._fail_task = asyncio.ensure_future(self._fail(_Aborted()))

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._state in ("new", "receiving", "completing") and self._fail_task is None:
            self._fail_task = asyncio.ensure_future(self._fail(_ClientGone()))

    def on_finish(self) -> None:
        super().on_finish()
        if self._state not in ("done", "failed") and self._slot is not None \
                and self._fail_task is None:
            # Answered early (e.g. an error raised in prepare after taking the slot).
            self._fail_task = asyncio.ensure_future(self._fail(_ClientGone()))

    async def _fail(self, exc: BaseException) -> None:
        if self._state in ("failed", "done"):
            return
        self._state = "failed"
        if isinstance(exc, _ClientGone):
            err = ApiError(499, "the client disconnected", error="ClientClosedRequest")
        elif isinstance(exc, _Aborted):
            err = ApiError(409, "the upload was aborted", error="UploadAborted")
        elif isinstance(exc, UploadTooLarge):
            err = ApiError(413, str(exc), error="TooLarge")
        elif self._formdata is not None and isinstance(exc, self._formdata.ParseFailedException):
            err = ApiError(400, "the multipart/form-data body is malformed",
                           error="BadMultipart")
        else:
            err = s3_api_error(exc)
        aborted = True
        if self.writer is not None:
            aborted = await self.writer.abort()
        if err.status >= 500 or not aborted:
            log.warning("upload of %s/%s failed (%s: %s); multipart upload %s", self.bucket,
                        self.key, err.error, err.message,
                        "aborted" if aborted else "NOT confirmed aborted")
        if self.progress is not None:
            self.progress.update(status="error", error={"error": err.error,
                                                        "message": err.message})
        await self._release()
        if not self._finished and not isinstance(exc, _ClientGone):
            try:
                self.set_status(err.status if err.status != 499 else 400)
                self.set_header("Content-Type", "application/json; charset=utf-8")
                self.set_header("Connection", "close")
                self.finish(json.dumps(self.error_body(err.status, err.message, err.error)))
            except (StreamClosedError, RuntimeError):
                pass
        if not self._finished and isinstance(exc, (_ClientGone, _Aborted)):
            # Stop reading the body: closing is the only way to refuse the rest.
            self.request.connection.close()

    async def _release(self) -> None:
        if self._transfer is not None:
            self.access.transfer_finished(self._transfer)
            self._transfer = None
        if self._slot is not None:
            slot, self._slot = self._slot, None
            await slot.__aexit__(None, None, None)


class UploadProgressHandler(S3Handler):
    """GET /api/objects/upload-progress/:b64key: SSE `{loaded, status}` until it ends."""

    uses_source = False  # the caller's own uploads, whatever source they write to

    async def get(self, b64key: str) -> None:
        key = b64decode_text(b64key)
        registry = self.plugin.progress
        entry = registry.subscribe(self.identity.username, key)
        stream = EventStream(self)
        wait_until = time.monotonic() + self.plugin.config.progress_wait
        seen = -1
        last_loaded = -1
        try:
            await stream.comment("connected")
            while not stream.closed:
                if entry.version != seen:
                    seen = entry.version
                    if entry.status == "uploading" and entry.loaded != last_loaded:
                        last_loaded = entry.loaded
                        if not await stream.send({"loaded": entry.loaded,
                                                  "status": "uploading"}):
                            break
                    elif entry.status == "completed":
                        entry.consumed = True
                        if entry.done_bytes and entry.done_bytes != last_loaded:
                            # coalesced away: the reader still sees 100 % before the end
                            await stream.send({"loaded": entry.done_bytes,
                                               "status": "uploading"})
                        await stream.send({"loaded": 0, "status": "completed"})
                        break
                    elif entry.status == "error":
                        entry.consumed = True
                        await stream.send({"loaded": entry.loaded, "status": "error",
                                           **(entry.error or {})})
                        break
                if not await entry.wait_change(seen, KEEPALIVE_S):
                    if entry.status == "pending" and time.monotonic() > wait_until:
                        await stream.send({"loaded": 0, "status": "error",
                                           "error": "NoUpload",
                                           "message": "no upload of this key started"})
                        break
                    if not await stream.comment():
                        break
        finally:
            registry.unsubscribe(entry)
            stream.finish()


class AbortUploadHandler(S3Handler):
    """GET /api/objects/abort-upload[/:b64key]: abort this user's upload(s)."""

    uses_source = False

    async def get(self, b64key: str | None = None) -> None:
        key = b64decode_text(b64key) if b64key else None
        running = self.plugin.progress.running(self.identity.username, key)
        for entry in running:
            if entry.cancel is not None:
                entry.cancel()
        self.write_json({"message": "Upload aborted" if running else "No upload to abort"})
