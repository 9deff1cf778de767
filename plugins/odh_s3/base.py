"""The base of the s3 plugin's handlers: settings freshness, the caller's S3 source, activity."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from odh_core import ApiError, BaseHandler

if TYPE_CHECKING:  # pragma: no cover
    from .access import SourceAccess
    from .plugin import S3Plugin


class S3Handler(BaseHandler):
    plugin: "S3Plugin"
    # Routes that act on S3 resolve the caller's source before the method runs (a cached
    # lookup: no round trip once the caller's settings and the source's client are known).
    uses_source = True
    # Which path argument is a bucket name (validated: 400; scoped to a connection: 403).
    bucket_arg: int | None = None
    _source: "SourceAccess | None" = None

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished:
            return
        self.plugin.last_activity = time.time()
        if self.plugin.access is not None:
            await self.plugin.access.loaded()
        if self.plugin.settings is not None:
            await self.plugin.settings.refresh()
        if self.uses_source:
            self._source = await self.plugin.require_access().resolve(self)
            if self.bucket_arg is not None and len(self.path_args) > self.bucket_arg:
                self._source.check_bucket(self.path_args[self.bucket_arg])

    @property
    def access(self) -> "SourceAccess":
        """The caller's S3 source for this request."""
        if self._source is None:
            raise ApiError(500, "this route resolves no S3 source")
        return self._source

    async def s3(self) -> Any:
        """The client of the caller's S3 source."""
        return await self.access.client()

    def query_int(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"{name} must be an integer") from None
        if not lo <= value <= hi:
            raise ApiError(400, f"{name} must be between {lo} and {hi}")
        return value


SOURCE_PARAMETER = {"name": "source", "in": "query", "required": False,
                    "schema": {"type": "string"},
                    "description": "The S3 source to act on (`shared`, `user` or "
                    "`conn:<namespace>/<name>`, see GET /api/s3/sources); default: the "
                    "caller's current source."}


def document_source_parameter(handler: type) -> None:
    """Every S3 route takes `?source=`: say so in the OpenAPI document of its methods."""
    if not (isinstance(handler, type) and issubclass(handler, S3Handler)
            and handler.uses_source):
        return
    for method in ("get", "post", "put", "delete"):
        fn = handler.__dict__.get(method)
        if fn is not None and not hasattr(fn, "openapi"):
            fn.openapi = {"parameters": [SOURCE_PARAMETER]}
