"""Buckets and objects: list, create/delete buckets, list/view/download/delete objects."""
from __future__ import annotations

import asyncio
import json
import mimetypes
from typing import Any

from tornado.iostream import SSLIOStream, StreamClosedError

from odh_core import ApiError

from .base import S3Handler
from . import zerocopy
from .codec import (b64decode_text, bucket_name_problem, content_disposition, decode_prefix,
                    iso)
from .connection import READ_TIMEOUT_S
from .errors import s3_api_error, s3_errors

HEAD_CONCURRENCY = 16
DELETE_BATCH = 1000
DELETE_CONCURRENCY = 4
READ_CHUNK = 1024 * 1024
ZERO_COPY_MIN = 1024 * 1024  # smaller bodies: not worth closing the S3 connection for
FLUSH_AT = 1024 * 1024  # bytes written before awaiting the socket (bounds memory)
# Types a browser would execute or render as a document if served inline same-origin.
_ACTIVE_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml",
                 "application/xml", "application/javascript", "text/javascript")


def _clean(resp: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) for k, v in resp.items() if k != "ResponseMetadata"}


class BucketsHandler(S3Handler):
    async def get(self) -> None:
        """Buckets the credentials can reach; the default bucket alone without ListBuckets."""
        client = await self.s3()
        default = self.access.default_bucket
        if self.access.bucket_scope:
            # A dashboard connection names its bucket: that is what this source reaches.
            self.write_json({"owner": {"DisplayName": "", "ID": ""}, "defaultBucket": default,
                             "buckets": [{"Name": self.access.bucket_scope,
                                          "CreationDate": None}]})
            return
        try:
            resp = await client.list_buckets()
        except Exception as exc:
            err = s3_api_error(exc)
            if err.status in (401, 403) and default:
                self.write_json({"owner": {"DisplayName": "", "ID": ""},
                                 "defaultBucket": default,
                                 "buckets": [{"Name": default, "CreationDate": None}]})
                return
            raise err from None
        sem = asyncio.Semaphore(HEAD_CONCURRENCY)

        async def reachable(name: str) -> bool:
            async with sem:
                try:
                    await client.head_bucket(Bucket=name)
                    return True
                except Exception:
                    return False

        buckets = resp.get("Buckets") or []
        ok = await asyncio.gather(*(reachable(b["Name"]) for b in buckets))
        owner = resp.get("Owner") or {}
        self.write_json({
            "owner": {"DisplayName": owner.get("DisplayName", ""), "ID": owner.get("ID", "")},
            "defaultBucket": default,
            "buckets": [{"Name": b["Name"], "CreationDate": iso(b.get("CreationDate"))}
                        for b, good in zip(buckets, ok) if good]})

    async def post(self) -> None:
        body = self.json_body()
        name = body.get("bucketName") if isinstance(body, dict) else None
        problem = bucket_name_problem(name) if isinstance(name, str) else \
            "bucketName (a string) is required"
        if problem:
            raise ApiError(400, problem, error="InvalidBucketName")
        self.access.check_bucket(name)
        client = await self.s3()
        region = self.access.connection.region
        kwargs: dict[str, Any] = {"Bucket": name}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with s3_errors():
            resp = await client.create_bucket(**kwargs)
        self.write_json({"message": "Bucket created successfully", "data": _clean(resp)})


class BucketHandler(S3Handler):
    bucket_arg = 0

    async def delete(self, bucket: str) -> None:
        client = await self.s3()
        with s3_errors():
            await client.delete_bucket(Bucket=bucket)
        self.write_json({"message": "Bucket deleted successfully"})


class ObjectsHandler(S3Handler):
    """GET lists a bucket (optionally under a base64 prefix); DELETE removes a key/folder."""

    bucket_arg = 0

    async def get(self, bucket: str, b64prefix: str | None = None) -> None:
        prefix = decode_prefix(b64prefix)
        paged = any(self.get_query_argument(n, None) not in (None, "")
                    for n in ("maxKeys", "continuationToken"))
        max_keys = self.query_int("maxKeys", 500, 1, 2000)
        token = self.get_query_argument("continuationToken", None) or None
        q = self.get_query_argument("q", "") or ""
        mode = self.get_query_argument("mode", "startsWith") or "startsWith"
        if mode not in ("startsWith", "contains"):
            raise ApiError(400, "mode must be startsWith or contains")
        client = await self.s3()
        objects: list[dict[str, Any]] = []
        prefixes: list[dict[str, Any]] = []
        list_prefix = prefix + q if q and mode == "startsWith" else prefix
        needle = q.lower() if q and mode == "contains" else ""
        if not paged and not needle:
            # The stock UI sends no paging parameters and reads only objects/prefixes: the
            # whole folder, up to the cap (COMPAT.md §2).
            await self._stream_folder(client, bucket, prefix, list_prefix)
            return
        truncated = False
        # contains-search scans pages and filters; stop after a bounded number of pages and
        # hand the continuation token back, so one request never scans a huge bucket.
        pages_left = 10
        with s3_errors():
            while True:
                want = max_keys - len(objects) - len(prefixes)
                args: dict[str, Any] = {"Bucket": bucket, "Prefix": list_prefix,
                                        "Delimiter": "/",
                                        "MaxKeys": 1000 if needle else min(1000, want)}
                if token:
                    args["ContinuationToken"] = token
                page = await client.list_objects_v2(**args)
                for obj in page.get("Contents") or []:
                    if obj["Key"] == prefix and prefix.endswith("/"):
                        continue  # the folder marker itself
                    if needle and needle not in obj["Key"][len(prefix):].lower():
                        continue
                    objects.append({k: iso(v) for k, v in obj.items()})
                for p in page.get("CommonPrefixes") or []:
                    if needle and needle not in p["Prefix"][len(prefix):].lower():
                        continue
                    prefixes.append({"Prefix": p["Prefix"]})
                truncated = bool(page.get("IsTruncated"))
                token = page.get("NextContinuationToken") if truncated else None
                pages_left -= 1
                if not truncated or len(objects) + len(prefixes) >= max_keys or \
                        pages_left <= 0:
                    break
        self.write_json({"objects": objects, "prefixes": prefixes,
                         "nextContinuationToken": token, "isTruncated": truncated,
                         "prefix": prefix, "bucket": bucket})

    async def _stream_folder(self, client: Any, bucket: str, prefix: str,
                             list_prefix: str) -> None:
        """The listing written page by page as S3 answers (memory: one page, plus the folder
        names, which the JSON shape puts after the objects); `isTruncated` past the cap."""
        cap = self.plugin.config.list_cap
        prefixes: list[dict[str, str]] = []
        token: str | None = None
        count = 0
        truncated = False
        started = wrote = False
        self.set_header("Content-Type", "application/json; charset=utf-8")
        while True:
            args: dict[str, Any] = {"Bucket": bucket, "Prefix": list_prefix, "Delimiter": "/",
                                    "MaxKeys": max(1, min(1000, cap - count))}
            if token:
                args["ContinuationToken"] = token
            try:
                page = await client.list_objects_v2(**args)
            except Exception as exc:
                if not started:
                    raise s3_api_error(exc) from None
                # Headers are gone: end a well-formed answer that says where to resume.
                truncated = True
                break
            objs = [{k: iso(v) for k, v in obj.items()} for obj in page.get("Contents") or []
                    if not (obj["Key"] == prefix and prefix.endswith("/"))]
            common = page.get("CommonPrefixes") or []
            prefixes.extend({"Prefix": p["Prefix"]} for p in common)
            body = ",".join(json.dumps(o, separators=(",", ":")) for o in objs)
            if not started:
                self.write(b'{"objects":[')
                started = True
            if body:
                self.write(("," if wrote else "").encode() + body.encode())
                wrote = True
            count += len(page.get("Contents") or []) + len(common)
            truncated = bool(page.get("IsTruncated"))
            token = page.get("NextContinuationToken") if truncated else None
            if not truncated or count >= cap:
                break
            await self.flush()
        tail = {"prefixes": prefixes, "nextContinuationToken": token if truncated else None,
                "isTruncated": truncated, "prefix": prefix, "bucket": bucket}
        self.finish(b"]," + json.dumps(tail, separators=(",", ":")).encode()[1:])

    async def delete(self, bucket: str, b64key: str | None = None) -> None:
        if not b64key:
            raise ApiError(400, "a base64-encoded key is required")
        key = b64decode_text(b64key)
        client = await self.s3()
        if not key.endswith("/"):
            with s3_errors():  # exactly this key: never its siblings that share the prefix
                await client.delete_object(Bucket=bucket, Key=key)
            self.write_json({"message": "Object deleted successfully"})
            return
        deleted, failed = await self._delete_folder(client, bucket, key)
        if failed:
            raise ApiError(500, f"{len(failed)} of {deleted + len(failed)} objects could not "
                           "be deleted", error="PartialDelete",
                           extra={"deleted": deleted, "failed": failed[:1000]})
        self.write_json({"message": "Objects deleted successfully", "deleted": deleted})

    async def _delete_folder(self, client: Any, bucket: str, prefix: str
                             ) -> tuple[int, list[dict[str, Any]]]:
        deleted = 0
        failed: list[dict[str, Any]] = []
        sem = asyncio.Semaphore(DELETE_CONCURRENCY)
        tasks: set[asyncio.Task[None]] = set()

        async def delete_batch(keys: list[str]) -> None:
            nonlocal deleted
            async with sem:
                try:
                    resp = await client.delete_objects(
                        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys],
                                               "Quiet": True})
                except Exception as exc:
                    err = s3_api_error(exc)
                    failed.extend({"Key": k, "Code": err.error, "Message": err.message}
                                  for k in keys)
                    return
                errors = resp.get("Errors") or []
                failed.extend({"Key": e.get("Key"), "Code": e.get("Code"),
                               "Message": e.get("Message")} for e in errors)
                deleted += len(keys) - len(errors)

        token = None
        try:
            with s3_errors():
                while True:
                    args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix,
                                            "MaxKeys": DELETE_BATCH}
                    if token:
                        args["ContinuationToken"] = token
                    page = await client.list_objects_v2(**args)
                    keys = [o["Key"] for o in page.get("Contents") or []]
                    if keys:
                        await sem.acquire()  # bound the batches queued, not just running
                        sem.release()
                        task = asyncio.create_task(delete_batch(keys))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    if not page.get("IsTruncated"):
                        break
                    token = page.get("NextContinuationToken")
        finally:
            if tasks:
                await asyncio.gather(*tasks)
        return deleted, failed


class _ObjectReader(S3Handler):
    """Streams an S3 object to the client: backpressure by flush, stops when the client goes."""

    _client_gone = False

    def on_connection_close(self) -> None:
        self._client_gone = True
        super().on_connection_close()

    async def _stream(self, body: Any, length: int) -> None:
        if (length >= ZERO_COPY_MIN and self.plugin.config.zero_copy_downloads
                and zerocopy.supported() and not isinstance(
                    self.request.connection.stream, SSLIOStream)):
            src = zerocopy.s3_socket(body)
            if src is not None:
                await self._splice(body, src, length)
                return
        await self._relay(body)

    async def _splice(self, body: Any, src: Any, length: int) -> None:
        """The body through the kernel (zerocopy.py); the headers through Tornado."""
        conn = self.request.connection
        try:
            prefix = zerocopy.take_over(body)
            self.write(prefix)
            await self.flush()  # the headers and what aiohttp had read: Tornado's buffer empty
            rest = length - len(prefix)
            await zerocopy.relay(src.fileno(), conn.stream.socket.fileno(), rest,
                                 read_timeout=READ_TIMEOUT_S)
            # Tornado counts the body bytes it writes against Content-Length and refuses to
            # finish short; these went around it.
            conn._expected_content_remaining -= rest
            self.plugin.download_bytes.labels("zero_copy").inc(length)
        except (StreamClosedError, zerocopy.ClientGone):
            return
        except zerocopy.UpstreamStalled as exc:
            raise ApiError(504, str(exc), error="GatewayTimeout") from None
        except zerocopy.UpstreamEnded as exc:
            raise ApiError(502, str(exc), error="BadGateway") from None
        finally:
            body.raw_stream.close()  # aiohttp's parser never saw the body: not reusable
        if not self._client_gone:
            self.finish()

    async def _relay(self, body: Any) -> None:
        # Double buffering: the next chunk is read from S3 while the previous one drains to
        # the client; at most one flush is outstanding, so at most ~2 x FLUSH_AT is buffered.
        pending = sent = 0
        flushing: Any = None
        try:
            async with body as stream:
                while not self._client_gone:
                    chunk = await stream.read(READ_CHUNK)  # what has arrived, up to READ_CHUNK
                    if not chunk:
                        break
                    self.write(chunk)
                    pending += len(chunk)
                    sent += len(chunk)
                    if pending < FLUSH_AT:
                        continue
                    pending = 0
                    if flushing is not None:
                        await flushing  # a slow client slows the S3 reads
                    flushing = self.flush()
            if flushing is not None:
                fut, flushing = flushing, None
                await fut
        except StreamClosedError:
            return
        finally:
            if flushing is not None:  # the read failed or we left: collect the flush outcome
                try:
                    await flushing
                except StreamClosedError:
                    pass
        if not self._client_gone:
            self.finish()
            self.plugin.download_bytes.labels("stream").inc(sent)


class ViewHandler(_ObjectReader):
    bucket_arg = 0

    async def get(self, bucket: str, b64key: str) -> None:
        key = b64decode_text(b64key)
        client = await self.s3()
        cap = self.plugin.config.max_view_size
        with s3_errors():
            obj = await client.get_object(Bucket=bucket, Key=key)
        size = int(obj.get("ContentLength") or 0)
        if size > cap:
            obj["Body"].close()  # do not read what we will not send
            raise ApiError(413, f"the object is {size} bytes; viewing is limited to {cap} "
                           "bytes, download it instead", error="TooLarge")
        ctype = obj.get("ContentType") or ""
        if not ctype or ctype == "binary/octet-stream" or ctype == "application/octet-stream":
            ctype = mimetypes.guess_type(key)[0] or "application/octet-stream"
        if ctype.split(";")[0].strip().lower() in _ACTIVE_TYPES:
            ctype = "text/plain; charset=utf-8"  # never render uploaded markup same-origin
        self.set_header("Content-Type", ctype)
        self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
        self.set_header("Content-Length", str(size))
        self.set_header("Cache-Control", "no-store")
        await self._stream(obj["Body"], size)


class DownloadHandler(_ObjectReader):
    bucket_arg = 0

    async def get(self, bucket: str, b64key: str) -> None:
        key = b64decode_text(b64key)
        client = await self.s3()
        args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        rng = self.request.headers.get("Range")
        if rng:
            args["Range"] = rng
        if self.request.headers.get("If-None-Match"):
            args["IfNoneMatch"] = self.request.headers["If-None-Match"]
        access = self.access
        await self.acquire_stream("download")  # per-user open-stream limit (429)
        async with access.transfers.slot():
            transfer = access.transfer_started("download", key, self.identity.username)
            try:
                try:
                    obj = await client.get_object(**args)
                except Exception as exc:
                    err = s3_api_error(exc)
                    if err.status == 304:
                        self.set_status(304)
                        self.finish()
                        return
                    if err.status == 416:
                        raise ApiError(416, "the requested range is not satisfiable",
                                       error="InvalidRange") from None
                    raise err from None
                status = (obj.get("ResponseMetadata") or {}).get("HTTPStatusCode", 200)
                if status == 206 or obj.get("ContentRange"):
                    self.set_status(206)
                    self.set_header("Content-Range", obj["ContentRange"])
                self.set_header("Content-Type", "application/octet-stream")
                self.set_header("Content-Disposition",
                                content_disposition(key.rstrip("/").rsplit("/", 1)[-1]))
                self.set_header("Content-Length", str(obj.get("ContentLength", 0)))
                self.set_header("Accept-Ranges", "bytes")
                if obj.get("ETag"):
                    self.set_header("ETag", obj["ETag"])
                if obj.get("LastModified"):
                    self.set_header("Last-Modified", obj["LastModified"].strftime(
                        "%a, %d %b %Y %H:%M:%S GMT"))
                await self._stream(obj["Body"], int(obj.get("ContentLength", 0)))
            finally:
                access.transfer_finished(transfer)
