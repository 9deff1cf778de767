"""The ODH-TEC object routes against moto's server over HTTP."""
from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import aiohttp


def b64(text: str, urlsafe: bool = False) -> str:
    enc = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return enc(text.encode()).decode()


async def put(aio_s3: Any, bucket: str, key: str, body: bytes = b"x") -> None:
    await aio_s3.put_object(Bucket=bucket, Key=key, Body=body)


async def test_api_root_kernels_and_auth(odh_server: Any) -> None:
    assert (await odh_server.fetch("/api")).json() == {"status": "ok"}
    kernels = (await odh_server.fetch("/api/kernels")).json()
    assert kernels[0]["execution_state"] == "idle" and "last_activity" in kernels[0]
    assert (await odh_server.fetch("/api/terminals")).json() == []
    assert (await odh_server.fetch("/api/buckets")).status == 401


async def test_buckets_list_create_delete(odh_server: Any, sandbox_s3: Any) -> None:
    resp = await odh_server.fetch("/api/buckets", user="alice")
    body = resp.json()
    assert resp.status == 200 and set(body["owner"]) == {"DisplayName", "ID"}
    assert body["defaultBucket"] == sandbox_s3.default_bucket
    assert sandbox_s3.default_bucket in [b["Name"] for b in body["buckets"]]
    bad = await odh_server.fetch("/api/buckets", "POST", user="alice",
                                 json={"bucketName": "Bad_Name"})
    assert bad.status == 400 and bad.json()["error"] and bad.json()["message"]
    name = f"b.{os.urandom(4).hex()}.dots"
    made = await odh_server.fetch("/api/buckets", "POST", user="alice", json={"bucketName": name})
    assert made.status == 200 and made.json()["message"] == "Bucket created successfully"
    gone = await odh_server.fetch(f"/api/buckets/{name}", "DELETE", user="alice")
    assert gone.json() == {"message": "Bucket deleted successfully"}
    missing = await odh_server.fetch(f"/api/buckets/{name}", "DELETE", user="alice")
    assert missing.status == 404 and missing.json()["error"] == "NoSuchBucket"


async def test_list_pages_1500_objects(odh_server: Any, sandbox_s3: Any, aio_s3: Any,
                                       key_prefix: str, seed_objects: Any) -> None:
    bucket = sandbox_s3.default_bucket
    seed_objects(bucket, [f"{key_prefix}obj-{i:05d}" for i in range(1500)])
    await put(aio_s3, bucket, f"{key_prefix}sub/inner")
    seen: list[str] = []
    prefixes: list[str] = []
    token = None
    pages = 0
    while True:
        q = f"?maxKeys=400" + (f"&continuationToken={token}" if token else "")
        resp = await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix)}{q}", user="bob")
        body = resp.json()
        assert resp.status == 200 and isinstance(body["objects"], list)
        assert isinstance(body["prefixes"], list)
        assert len(body["objects"]) + len(body["prefixes"]) <= 400
        seen += [o["Key"] for o in body["objects"]]
        prefixes += [p["Prefix"] for p in body["prefixes"]]
        pages += 1
        if not body["isTruncated"]:
            assert body["nextContinuationToken"] is None
            break
        token = body["nextContinuationToken"]
        assert token
    assert pages == 4
    assert seen == [f"{key_prefix}obj-{i:05d}" for i in range(1500)]
    assert prefixes == [f"{key_prefix}sub/"]
    # no paging parameters (the stock UI): the whole folder, in order, one answer
    whole = await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix)}", user="bob")
    first = whole.json()
    assert [o["Key"] for o in first["objects"]] == seen and not first["isTruncated"]
    assert [p["Prefix"] for p in first["prefixes"]] == prefixes
    assert first["nextContinuationToken"] is None and first["prefix"] == key_prefix
    o = first["objects"][0]
    assert {"Key", "LastModified", "Size"} <= set(o) and o["LastModified"].endswith("Z")
    big = (await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix)}?maxKeys=2000",
                                  user="bob")).json()
    assert len(big["objects"]) + len(big["prefixes"]) == 1501 and not big["isTruncated"]
    assert (await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix)}?maxKeys=0",
                                   user="bob")).status == 400
    hits = (await odh_server.fetch(
        f"/api/objects/{bucket}/{b64(key_prefix)}?q=obj-0149&mode=startsWith", user="bob")).json()
    assert [x["Key"] for x in hits["objects"]] == [f"{key_prefix}obj-{i:05d}"
                                                    for i in range(1490, 1500)]
    hits = (await odh_server.fetch(
        f"/api/objects/{bucket}/{b64(key_prefix)}?q=1499&mode=contains", user="bob")).json()
    assert [x["Key"] for x in hits["objects"]] == [f"{key_prefix}obj-01499"]
    empty = (await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix + 'nothing/')}",
                                    user="bob")).json()
    assert empty["objects"] == [] and empty["prefixes"] == []
    root = await odh_server.fetch(f"/api/objects/{bucket}", user="bob")
    assert root.status == 200 and key_prefix in [p["Prefix"] for p in root.json()["prefixes"]]
    sentinel = await odh_server.fetch(f"/api/objects/{bucket}/{b64('there_is_no_prefix')}",
                                      user="bob")
    assert sentinel.json()["prefixes"] == root.json()["prefixes"]


async def test_delete_exact_key_and_big_folder(odh_server: Any, sandbox_s3: Any, aio_s3: Any,
                                               key_prefix: str, seed_objects: Any) -> None:
    bucket = sandbox_s3.default_bucket
    await put(aio_s3, bucket, f"{key_prefix}data")
    await put(aio_s3, bucket, f"{key_prefix}data2.csv")
    resp = await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix + 'data')}",
                                  "DELETE", user="alice")
    assert resp.json() == {"message": "Object deleted successfully"}
    left = await aio_s3.list_objects_v2(Bucket=bucket, Prefix=key_prefix)
    assert [o["Key"] for o in left["Contents"]] == [f"{key_prefix}data2.csv"]

    folder = f"{key_prefix}folder/"
    seed_objects(bucket, [f"{folder}{i // 100}/f-{i}" for i in range(2500)])
    await put(aio_s3, bucket, f"{key_prefix}folder-sibling")
    resp = await odh_server.fetch(f"/api/objects/{bucket}/{b64(folder)}", "DELETE", user="alice")
    assert resp.status == 200 and resp.json()["message"] == "Objects deleted successfully"
    assert resp.json()["deleted"] == 2500
    left = await aio_s3.list_objects_v2(Bucket=bucket, Prefix=folder)
    assert left.get("KeyCount", 0) == 0
    sib = await aio_s3.head_object(Bucket=bucket, Key=f"{key_prefix}folder-sibling")
    assert sib["ContentLength"] == 1


async def test_unicode_and_slash_base64_keys_end_to_end(odh_server: Any, sandbox_s3: Any,
                                                        aio_s3: Any, key_prefix: str) -> None:
    bucket = sandbox_s3.default_bucket
    # this key's standard base64 contains "/" (and "+"), so the route must take the rest of
    # the path; the Unicode key checks UTF-8 both ways
    slash_key = f"{key_prefix}??>>~~?.bin"
    assert "/" in b64(slash_key)
    uni_key = f"{key_prefix}données/模型 ü.txt"
    for key, data in ((slash_key, b"slash-body"), (uni_key, "héllo".encode())):
        for urlsafe in (False, True):
            enc = b64(key, urlsafe)
            async with aiohttp.ClientSession() as http:
                form = aiohttp.FormData()
                form.add_field("file", data, filename="x", content_type="text/plain")
                async with http.post(f"{odh_server.url}/api/objects/upload/{bucket}/{enc}",
                                     data=form, headers=odh_server.auth_headers("alice")) as r:
                    assert r.status == 200, await r.text()
                    assert (await r.json())["message"] == "Object uploaded successfully"
            view = await odh_server.fetch(f"/api/objects/view/{bucket}/{enc}", user="alice")
            assert view.status == 200 and view.body == data
            dl = await odh_server.fetch(f"/api/objects/download/{bucket}/{enc}", user="alice")
            assert dl.status == 200 and dl.body == data
            assert "attachment" in dl.headers["Content-Disposition"]
            assert "filename*=UTF-8''" in dl.headers["Content-Disposition"]
    head = await aio_s3.head_object(Bucket=bucket, Key=uni_key)
    assert head["ContentLength"] == len("héllo".encode())
    listing = (await odh_server.fetch(f"/api/objects/{bucket}/{b64(key_prefix + 'données/')}",
                                      user="alice")).json()
    assert [o["Key"] for o in listing["objects"]] == [uni_key]
    bad = await odh_server.fetch(f"/api/objects/view/{bucket}/not*base64", user="alice")
    assert bad.status == 400 and bad.json()["error"] == "InvalidBase64"
    bad = await odh_server.fetch(f"/api/objects/view/{bucket}/{b64('x')[:-2]}%FF%FE",
                                 user="alice")
    assert bad.status == 400
    resp = await odh_server.fetch(f"/api/objects/{bucket}/{b64(slash_key)}", "DELETE",
                                  user="alice")
    assert resp.status == 200


async def test_download_range_etag_and_view_cap(odh_server: Any, sandbox_s3: Any, aio_s3: Any,
                                                key_prefix: str) -> None:
    bucket, key = sandbox_s3.default_bucket, f"{key_prefix}range.bin"
    data = os.urandom(100_000)
    await put(aio_s3, bucket, key, data)
    enc = b64(key)
    full = await odh_server.fetch(f"/api/objects/download/{bucket}/{enc}", user="bob")
    assert full.status == 200 and full.body == data
    assert full.headers["Content-Length"] == str(len(data)) and full.headers["ETag"]
    assert full.headers["Content-Disposition"].startswith('attachment; filename="range.bin"')
    part = await odh_server.fetch(f"/api/objects/download/{bucket}/{enc}", user="bob",
                                  headers={"Range": "bytes=1000-1999"})
    assert part.status == 206 and part.body == data[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    missing = await odh_server.fetch(f"/api/objects/download/{bucket}/{b64(key + 'no')}",
                                     user="bob")
    assert missing.status == 404 and set(missing.json()) >= {"error", "message"}
    odh_server.app.plugin("s3").ctx.config = odh_server.app.plugin("s3").config.model_copy(
        update={"max_view_size": 50_000})
    capped = await odh_server.fetch(f"/api/objects/view/{bucket}/{enc}", user="bob")
    assert capped.status == 413
    await put(aio_s3, bucket, f"{key_prefix}page.html", b"<script>alert(1)</script>")
    html = await odh_server.fetch(f"/api/objects/view/{bucket}/{b64(key_prefix + 'page.html')}",
                                  user="bob")
    assert html.status == 200 and html.headers["Content-Type"].startswith("text/plain")
