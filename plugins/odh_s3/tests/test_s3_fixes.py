"""Issue 17's ODH-TEC fixes and issue 18 item 10, over HTTP.

- a folder listed without paging parameters is answered whole, up to `list_cap`;
- bucket names are validated on every route (400, never a 502 from botocore);
- S3 "Test Connection" with a wrong key reports S3's own reason;
- proxy "Test Connection" fetches the Test URL and fails when it answers >= 400.
"""
from __future__ import annotations

import asyncio
import base64
from typing import Any, AsyncIterator

import pytest


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class StubHttp:
    """A raw HTTP server answering every request with one canned response; records what it
    was asked (request lines). Plays an S3 that rejects the key, or a proxy."""

    def __init__(self, responses: dict[str, bytes], default: bytes):
        self.responses = responses  # request-line prefix -> raw response
        self.default = default
        self.requests: list[str] = []

    async def start(self) -> "StubHttp":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                line = head.split("\r\n", 1)[0]
                self.requests.append(line)
                answer = next((r for p, r in self.responses.items() if line.startswith(p)),
                              self.default)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


def raw(status: str, body: bytes = b"", ctype: str = "application/xml") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "\r\n").encode() + body


INVALID_KEY = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidAccessKeyId"
               b"</Code><Message>The AWS Access Key Id you provided does not exist in our "
               b"records.</Message></Error>")


@pytest.fixture
async def bad_key_s3() -> AsyncIterator[StubHttp]:
    stub = await StubHttp({"GET / ": raw("403 Forbidden", INVALID_KEY),
                           "HEAD ": raw("403 Forbidden")}, raw("403 Forbidden")).start()
    yield stub
    await stub.stop()


@pytest.fixture
def s3_plugin_config(s3_plugin_config: dict[str, Any]) -> dict[str, Any]:
    return {**s3_plugin_config, "list_cap": 1000}


async def test_whole_folder_up_to_the_cap_then_truncated(odh_server: Any, sandbox_s3: Any,
                                                        key_prefix: str,
                                                        seed_objects: Any) -> None:
    bucket = sandbox_s3.default_bucket
    keys = [f"{key_prefix}obj-{i:05d}" for i in range(1500)]
    seed_objects(bucket, keys)
    first = await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix)}", user="alice")
    body = first.json()
    assert first.status == 200 and [o["Key"] for o in body["objects"]] == keys[:1000]
    assert body["isTruncated"] and body["nextContinuationToken"]
    rest = await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix)}?maxKeys=1000&"
                                  f"continuationToken={body['nextContinuationToken']}",
                                  user="alice")
    assert [o["Key"] for o in rest.json()["objects"]] == keys[1000:]
    assert not rest.json()["isTruncated"]
    # a missing bucket is a clean 404 before anything is streamed
    missing = await odh_server.fetch("/api/objects/no-such-bucket-here", user="alice")
    assert missing.status == 404 and missing.json()["error"] == "NoSuchBucket"


@pytest.mark.parametrize("bucket", ["..", "a..b", "Bad_Bucket", "ab", "x" * 64, "-abc"])
async def test_bucket_names_are_checked_on_every_route(odh_server: Any, bucket: str) -> None:
    key = b64("k")
    form = (b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nx"
            b"\r\n--B--\r\n")
    calls = [("GET", f"/api/objects/{bucket}", None, None),
             ("GET", f"/api/objects/{bucket}/{key}", None, None),
             ("DELETE", f"/api/objects/{bucket}/{key}", None, None),
             ("GET", f"/api/objects/view/{bucket}/{key}", None, None),
             ("GET", f"/api/objects/download/{bucket}/{key}", None, None),
             ("POST", f"/api/objects/upload/{bucket}/{key}", form,
              {"Content-Type": "multipart/form-data; boundary=B"}),
             ("DELETE", f"/api/buckets/{bucket}", None, None),
             ("POST", "/api/buckets", f'{{"bucketName": "{bucket}"}}'.encode(),
              {"Content-Type": "application/json"})]
    for method, path, body, headers in calls:
        resp = await odh_server.fetch(path.replace("..", "%2E%2E"), method, user="alice",
                                      body=body, headers=headers)
        if resp.status == 404 and bucket == ".." and method != "POST":
            continue  # ".." as a whole path segment never reaches a route: also refused
        assert resp.status == 400, (method, path, resp.status, resp.text)
        assert resp.json()["error"] == "InvalidBucketName", (method, path)


async def test_test_s3_reports_s3s_reason_for_a_wrong_key(odh_server: Any,
                                                         bad_key_s3: StubHttp) -> None:
    resp = await odh_server.fetch("/api/settings/test-s3", "POST", user="admin", json={
        "accessKeyId": "AKIAWRONG", "secretAccessKey": "wrong", "region": "us-east-1",
        "endpoint": bad_key_s3.url, "defaultBucket": "some-bucket"})
    body = resp.json()
    assert resp.status == 403 and body["error"] == "InvalidAccessKeyId", body
    assert "does not exist in our records" in body["message"]
    assert any(r.startswith("HEAD /some-bucket") for r in bad_key_s3.requests)
    # the stored settings were not touched
    assert odh_server.app.service("s3.access").connection.endpoint != bad_key_s3.url


async def test_test_proxy_uses_the_test_url_and_fails_on_404(odh_server: Any) -> None:
    proxy = await StubHttp({"GET http://ok.example/": raw("200 OK", b"hi", "text/plain")},
                           raw("404 Not Found", b"", "text/plain")).start()
    try:
        ok = await odh_server.fetch("/api/settings/test-proxy", "POST", user="admin", json={
            "httpProxy": proxy.url, "httpsProxy": "", "testUrl": "http://ok.example/"})
        assert ok.status == 200 and ok.json()["status"] == 200, ok.text
        assert proxy.requests[-1].startswith("GET http://ok.example/ ")
        missing = await odh_server.fetch("/api/settings/test-proxy", "POST", user="admin",
                                         json={"httpProxy": proxy.url, "httpsProxy": "",
                                               "testUrl": "http://missing.example/x"})
        assert missing.status == 502 and missing.json()["error"] == "ProxyError"
        assert "404" in missing.json()["message"]
        assert proxy.requests[-1].startswith("GET http://missing.example/x ")
        for bad in ("file:///etc/passwd", "gopher://x/", "not a url"):
            resp = await odh_server.fetch("/api/settings/test-proxy", "POST", user="admin",
                                          json={"httpProxy": proxy.url, "testUrl": bad})
            assert resp.status == 400, bad
        # never for non-admins: it fetches a URL the caller chose
        seen = len(proxy.requests)
        denied = await odh_server.fetch("/api/settings/test-proxy", "POST", user="alice",
                                        json={"httpProxy": proxy.url,
                                              "testUrl": "http://ok.example/"})
        assert denied.status == 403 and len(proxy.requests) == seen
    finally:
        await proxy.stop()
