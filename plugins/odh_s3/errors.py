"""S3 failures as the old contract's `{error, message}` with the S3 status copied."""
from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Iterator

from odh_core import ApiError

# botocore's exceptions are imported where an error is mapped, not at boot: by then an S3
# client exists, so aiobotocore (imported off the loop, see connection.py) brought them in.


def s3_api_error(exc: BaseException) -> ApiError:
    """Map an aiobotocore/botocore exception to an ApiError (never leaking credentials)."""
    from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError,
                                     EndpointConnectionError, HTTPClientError,
                                     NoCredentialsError, ReadTimeoutError)

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error") or {}
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 500
        code = str(err.get("Code") or "S3Error")
        if code.isdigit():  # HEAD answers carry no body: "404" / "403"
            code = {"404": "NotFound", "403": "AccessDenied"}.get(code, "S3Error")
        message = str(err.get("Message") or code)
        return ApiError(int(status) if 400 <= int(status) < 600 else 500, message, error=code)
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, asyncio.TimeoutError)):
        return ApiError(504, "S3 did not answer in time", error="S3Timeout")
    if isinstance(exc, (EndpointConnectionError, HTTPClientError)):
        return ApiError(502, "S3 is unreachable: could not connect to the endpoint",
                        error="S3Unreachable")
    if isinstance(exc, NoCredentialsError):
        return ApiError(503, "S3 credentials are not configured", error="NoCredentials")
    if isinstance(exc, BotoCoreError):
        return ApiError(502, f"S3 request failed: {type(exc).__name__}", error="S3Error")
    if isinstance(exc, (ConnectionError, OSError)):
        return ApiError(502, "S3 is unreachable: the connection failed", error="S3Unreachable")
    return ApiError(500, "S3 request failed", error="InternalError")


def is_s3_failure(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, (BotoCoreError, ClientError, asyncio.TimeoutError, OSError))


@contextmanager
def s3_errors() -> Iterator[None]:
    """Turn S3 exceptions raised inside the block into ApiErrors."""
    try:
        yield
    except ApiError:
        raise
    except Exception as exc:
        if is_s3_failure(exc):
            raise s3_api_error(exc) from None
        raise
