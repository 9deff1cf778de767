"""The form-data side of uploads: the streaming parser and the `file` part's target.

streaming-form-data imports smart_open (~70 ms), so this module is imported on the first
upload, in a worker thread (`upload.formdata()`), never at server start or on the loop.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException
from streaming_form_data.targets import BaseTarget

from odh_core import ApiError

if TYPE_CHECKING:  # pragma: no cover
    from .upload import UploadHandler

__all__ = ["FileTarget", "ParseFailedException", "StreamingFormDataParser"]


class FileTarget(BaseTarget):
    """The `file` part: bytes go to the handler's writer (created when the part starts)."""

    def __init__(self, handler: "UploadHandler"):
        super().__init__()
        self.handler = handler
        self.parts = 0
        self.done = False

    async def on_start_async(self) -> None:
        self.parts += 1
        if self.parts > 1:
            raise ApiError(400, "send exactly one file part named 'file'")
        self.handler.open_writer(self.multipart_content_type)

    async def on_data_received_async(self, chunk: bytes) -> None:
        await self.handler.writer.write(chunk)  # type: ignore[union-attr]

    async def on_finish_async(self) -> None:
        self.done = True
