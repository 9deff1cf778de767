"""The sandbox hub over real HTTP, as an importer sees it (aiohttp client)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from odh_sandbox.hub import SandboxHub

ALICE = {"Authorization": "Bearer hf_alice"}
BOB = {"Authorization": "Bearer hf_bob"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_model_info_with_blobs(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{hub.endpoint}/api/models/org/public?blobs=true") as resp:
        assert resp.status == 200
        info = await resp.json()
    assert info["id"] == info["modelId"] == "org/public"
    assert info["sha"] == hub.commit_sha("org/public") and len(info["sha"]) == 40
    assert info["private"] is False and info["gated"] is False
    siblings = {s["rfilename"]: s for s in info["siblings"]}
    assert set(siblings) == {"config.json", "dir/notes.txt", "model.safetensors"}
    assert siblings["config.json"]["size"] == len(b'{"model_type": "x"}')
    assert "lfs" not in siblings["config.json"]
    # git blob id of a regular file
    blob = b'{"model_type": "x"}'
    assert siblings["config.json"]["blobId"] == hashlib.sha1(
        b"blob %d\0" % len(blob) + blob).hexdigest()
    lfs = siblings["model.safetensors"]["lfs"]
    assert lfs["size"] == siblings["model.safetensors"]["size"] == 3 * 1024 * 1024 + 123
    assert lfs["sha256"] == hub.expected_sha256("org/public", "model.safetensors")
    assert lfs["pointerSize"] > 100


async def test_model_info_without_blobs_and_by_revision(
        hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    sha = hub.commit_sha("org/public")
    for rev in ("main", sha):
        async with http.get(f"{hub.endpoint}/api/models/org/public/revision/{rev}") as resp:
            assert resp.status == 200
            info = await resp.json()
        assert info["sha"] == sha
        assert all(set(s) == {"rfilename"} for s in info["siblings"])
    async with http.get(f"{hub.endpoint}/api/models/org/public/revision/nope") as resp:
        assert resp.status == 404
        assert resp.headers["X-Error-Code"] == "RevisionNotFound"


async def test_small_file_served_directly(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    url = f"{hub.endpoint}/org/public/resolve/main/dir/notes.txt"
    async with http.get(url, allow_redirects=False) as resp:
        assert resp.status == 200
        assert await resp.read() == ("hello " * 100).encode()
        assert resp.headers["X-Repo-Commit"] == hub.commit_sha("org/public")
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert "X-Linked-Size" not in resp.headers
    async with http.get(url, headers={"Range": "bytes=6-10"}) as resp:
        assert resp.status == 206
        assert await resp.read() == b"hello"


async def test_lfs_resolve_redirects_to_cdn(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    sha256 = hub.expected_sha256("org/public", "model.safetensors")
    size = hub.file_size("org/public", "model.safetensors")
    url = f"{hub.endpoint}/org/public/resolve/main/model.safetensors"
    for method in ("HEAD", "GET"):
        async with http.request(method, url, allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["X-Linked-Size"] == str(size)
            assert resp.headers["X-Linked-Etag"] == resp.headers["ETag"] == f'"{sha256}"'
            assert resp.headers["X-Repo-Commit"] == hub.commit_sha("org/public")
            location = resp.headers["Location"]
    assert location.startswith(f"{hub.endpoint}/cdn/{sha256}?")
    async with http.head(location) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(size)
        assert resp.headers["Accept-Ranges"] == "bytes"
    async with http.get(url) as resp:  # following the redirect gives the bytes
        assert resp.status == 200
        assert hashlib.sha256(await resp.read()).hexdigest() == sha256


async def test_cdn_range_gives_exact_bytes(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    BIG = hub.file_size("org/big", "model.safetensors")
    url = f"{hub.endpoint}/org/big/resolve/main/model.safetensors"
    async with http.get(url, allow_redirects=False) as resp:
        location = resp.headers["Location"]
    start, end = BIG - 3 * 1024 * 1024 - 5, BIG - 1  # inclusive, crosses block edges
    async with http.get(location, headers={"Range": f"bytes={start}-{end}"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{BIG}"
        assert resp.headers["Content-Length"] == str(end - start + 1)
        body = await resp.read()
    assert body == hub.file_bytes("org/big", "model.safetensors", start=start, end=end + 1)
    async with http.get(location, headers={"Range": f"bytes={BIG}-"}) as resp:
        assert resp.status == 416
        assert resp.headers["Content-Range"] == f"bytes */{BIG}"


@pytest.mark.slow
async def test_big_file_streams_whole(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    digest = hashlib.sha256()
    total = 0
    url = f"{hub.endpoint}/org/big/resolve/main/model.safetensors"
    async with http.get(url) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(1 << 20):
            digest.update(chunk)
            total += len(chunk)
    assert total == hub.file_size("org/big", "model.safetensors")
    assert digest.hexdigest() == hub.expected_sha256("org/big", "model.safetensors")


async def test_cdn_rejects_bad_signature(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    url = f"{hub.endpoint}/org/public/resolve/main/model.safetensors"
    async with http.get(url, allow_redirects=False) as resp:
        location = resp.headers["Location"]
    async with http.get(location[:-4] + "0000") as resp:
        assert resp.status == 403


async def test_whoami(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{hub.endpoint}/api/whoami-v2", headers=ALICE) as resp:
        assert resp.status == 200
        me = await resp.json()
    assert me["name"] == "alice" and me["type"] == "user"
    assert me["auth"]["accessToken"]["displayName"] == "alice-sandbox-token"
    assert me["auth"]["accessToken"]["role"] == "read"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer "}):
        async with http.get(f"{hub.endpoint}/api/whoami-v2", headers=headers) as resp:
            assert resp.status == 401
            assert "error" in await resp.json()


async def test_gated_repo(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    # model info of a gated repo is public, as on the real hub
    async with http.get(f"{hub.endpoint}/api/models/org/gated") as resp:
        assert resp.status == 200
        assert (await resp.json())["gated"] == "manual"
    url = f"{hub.endpoint}/org/gated/resolve/main/model.safetensors"
    async with http.get(url, allow_redirects=False) as resp:
        assert resp.status == 401
        assert resp.headers["X-Error-Code"] == "GatedRepo"
        assert "authenticated" in (await resp.json())["error"]
    async with http.get(url, headers=BOB, allow_redirects=False) as resp:
        assert resp.status == 403
        assert resp.headers["X-Error-Code"] == "GatedRepo"
        assert "authorized list" in resp.headers["X-Error-Message"]
    async with http.get(url, headers=ALICE, allow_redirects=False) as resp:
        assert resp.status == 302


async def test_private_and_missing_repos(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    for repo in ("org/private", "org/missing"):
        for headers, status in (({}, 401), (BOB, 404)):
            for path in (f"/api/models/{repo}", f"/{repo}/resolve/main/config.json"):
                async with http.get(hub.endpoint + path, headers=headers) as resp:
                    assert resp.status == status, (repo, headers, path)
                    assert resp.headers["X-Error-Code"] == "RepoNotFound"
                    assert (await resp.json())["error"] == "Repository not found"
    async with http.get(f"{hub.endpoint}/api/models/org/private", headers=ALICE) as resp:
        assert resp.status == 200
        assert (await resp.json())["private"] is True


async def test_bad_token_and_missing_file(hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{hub.endpoint}/api/models/org/public",
                        headers={"Authorization": "Bearer "}) as resp:
        assert resp.status == 401  # an empty token fails even on a public repo
    async with http.get(f"{hub.endpoint}/org/public/resolve/main/nope.bin") as resp:
        assert resp.status == 404
        assert resp.headers["X-Error-Code"] == "EntryNotFound"


async def test_request_log_shows_authorization(
        hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{hub.endpoint}/api/models/org/public"):
        pass
    async with http.get(f"{hub.endpoint}/api/models/org/public", headers=ALICE):
        pass
    anon, authed = hub.requests
    assert (anon.has_authorization, anon.user, anon.status) == (False, None, 200)
    assert (authed.has_authorization, authed.user) == (True, "alice")
    assert authed.headers["Authorization"] == "<redacted>"
    assert anon.phase == "api" and anon.path == "/api/models/org/public"
