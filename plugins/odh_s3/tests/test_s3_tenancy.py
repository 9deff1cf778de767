"""Issue 19: each user's S3 access is their own (over HTTP, sandbox cluster + moto).

The seeded connections (conf/sandbox/85-s3-connections.yaml): alice-project/alice-models
(bucket alice-models, alice's keys) and bob-project/bob-data (bucket bob-data, bob's keys).
moto accepts any keys, so what makes the credentials meaningful here is odh-core's own part:
a source is only the caller's when the cluster lets them read its Secret with their token, and
a connection reaches the bucket it names, nothing else.
"""
from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from odh_core.testing import build_settings, eventually, start_server
from odh_s3.sandbox_seeds import fill_connections

ALICE = "conn:alice-project/alice-models"
BOB = "conn:bob-project/bob-data"
BOUNDARY = "----tenancyboundary"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def form(data: bytes) -> tuple[bytes, dict[str, str]]:
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + \
        f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture
def s3_plugin_config(s3_plugin_config: dict[str, Any]) -> dict[str, Any]:
    cfg = {k: v for k, v in s3_plugin_config.items() if k != "shared_groups"}  # the default
    return {**cfg, "connection_ttl": 0.5}


@pytest.fixture
async def seeded(odh_server: Any, sandbox_s3: Any, tokens: dict[str, str],
                 clean_users: None) -> Any:
    buckets = await fill_connections(odh_server.app.kube, tokens["admin"], sandbox_s3.endpoint,
                                     sandbox_s3.ensure_bucket)
    assert {"alice-models", "bob-data"} <= set(buckets)
    return odh_server


async def add_connection(server: Any, token: str, name: str, **data: str) -> str:
    """A dashboard S3 connection Secret in alice-project, created with `token`; its source id."""
    await server.app.kube.json("POST", "/api/v1/namespaces/alice-project/secrets",
                               token=token, json={
        "apiVersion": "v1", "kind": "Secret", "metadata": {
            "name": name, "labels": {"opendatahub.io/dashboard": "true"},
            "annotations": {"opendatahub.io/connection-type-ref": "s3"}},
        "stringData": data})
    return f"conn:alice-project/{name}"


async def put_object(server: Any, user: str, bucket: str, key: str, data: bytes,
                     source: str | None = None) -> Any:
    body, headers = form(data)
    q = f"?source={source}" if source else ""
    return await server.fetch(f"/api/objects/upload/{bucket}/{b64(key)}{q}", "POST", user=user,
                              body=body, headers=headers)


async def test_sources_are_what_the_caller_may_use(seeded: Any, sandbox_s3: Any) -> None:
    alice = (await seeded.fetch("/api/s3/sources", user="alice")).json()["data"]
    assert alice["current"] is None
    assert [s["id"] for s in alice["sources"]] == [ALICE]
    assert alice["sources"][0]["bucket"] == "alice-models"
    assert "alice-secret-key" not in json.dumps(alice)
    bob = (await seeded.fetch("/api/s3/sources", user="bob")).json()["data"]
    assert [s["id"] for s in bob["sources"]] == [BOB]
    admin = (await seeded.fetch("/api/s3/sources", user="admin")).json()["data"]
    ids = [s["id"] for s in admin["sources"]]
    assert ids[0] == "shared" and ALICE in ids and BOB in ids
    # one project only
    one = (await seeded.fetch("/api/s3/sources?namespace=bob-project", user="alice")).json()
    assert one["data"]["sources"] == []
    for bad in ("..%2F..%2Fapi", "Bob", "a%3Fb"):
        resp = await seeded.fetch(f"/api/s3/sources?namespace={bad}", user="alice")
        assert resp.status == 400, bad


async def test_no_usable_source_is_a_clear_403(seeded: Any, sandbox_s3: Any) -> None:
    for path in ("/api/buckets", f"/api/objects/{sandbox_s3.default_bucket}",
                 f"/api/objects/download/{sandbox_s3.default_bucket}/{b64('k')}",
                 "/api/s3/source"):
        resp = await seeded.fetch(path, user="bob")
        body = resp.json()
        assert resp.status == 403 and body["error"] == "NoS3Source", (path, body)
        assert "S3 Settings" in body["message"] and "administrator" in body["message"]
    shared = await seeded.fetch("/api/buckets?source=shared", user="bob")
    assert shared.status == 403 and "shared_groups" in shared.json()["message"]
    own = await seeded.fetch("/api/buckets?source=user", user="bob")
    assert own.status == 403 and own.json()["error"] == "NoS3Source"


async def test_admins_keep_the_shared_s3(seeded: Any, sandbox_s3: Any) -> None:
    resp = await seeded.fetch("/api/buckets", user="admin")
    assert resp.status == 200
    names = [b["Name"] for b in resp.json()["buckets"]]
    assert sandbox_s3.default_bucket in names
    assert (await seeded.fetch("/api/s3/source", user="admin")).json()["data"]["id"] == "shared"


async def test_alice_works_on_her_connection(seeded: Any, aio_s3: Any, odh_config: Any,
                                             tokens: dict[str, str]) -> None:
    key = f"t-{uuid.uuid4().hex[:8]}/model.bin"
    chosen = await seeded.fetch("/api/s3/source", "PUT", user="alice", json={"source": ALICE})
    assert chosen.status == 200 and chosen.json()["data"]["bucket"] == "alice-models"
    buckets = (await seeded.fetch("/api/buckets", user="alice")).json()
    assert [b["Name"] for b in buckets["buckets"]] == ["alice-models"]
    assert buckets["defaultBucket"] == "alice-models"
    assert (await put_object(seeded, "alice", "alice-models", key, b"alice's")).status == 200
    listing = (await seeded.fetch(f"/api/objects/alice-models/{b64(key.split('/')[0] + '/')}",
                                  user="alice")).json()
    assert [o["Key"] for o in listing["objects"]] == [key]
    got = await seeded.fetch(f"/api/objects/download/alice-models/{b64(key)}", user="alice")
    assert got.status == 200 and got.body == b"alice's"
    assert (await aio_s3.get_object(Bucket="alice-models", Key=key))["ContentLength"] == 7
    # the current source is kept in the cluster: another server (replica) agrees
    other = await start_server(build_settings(odh_config, ["s3"]), tokens=tokens)
    try:
        assert (await other.fetch("/api/s3/source", user="alice")).json()["data"]["id"] == ALICE
    finally:
        await other.close()
    # and the same through ?source= without a current source
    await seeded.fetch("/api/s3/source", "PUT", user="alice", json={"source": None})
    q = f"?source={ALICE}"
    view = await seeded.fetch(f"/api/objects/view/alice-models/{b64(key)}{q}", user="alice")
    assert view.status == 200 and view.body == b"alice's"
    gone = await seeded.fetch(f"/api/objects/alice-models/{b64(key)}{q}", "DELETE", user="alice")
    assert gone.status == 200


async def test_bob_cannot_reach_alices_source_by_any_route(seeded: Any, aio_s3: Any) -> None:
    key = f"t-{uuid.uuid4().hex[:8]}/secret.bin"
    await aio_s3.put_object(Bucket="alice-models", Key=key, Body=b"private")
    q = f"?source={ALICE}"
    attempts = [
        ("GET", "/api/buckets", None),
        ("POST", "/api/buckets", json.dumps({"bucketName": "bob-made-this"})),
        ("GET", "/api/objects/alice-models", None),
        ("GET", f"/api/objects/alice-models/{b64('t-')}", None),
        ("GET", f"/api/objects/view/alice-models/{b64(key)}", None),
        ("GET", f"/api/objects/download/alice-models/{b64(key)}", None),
        ("DELETE", f"/api/objects/alice-models/{b64(key)}", None),
        ("DELETE", f"/api/objects/alice-models/{b64(key.split('/')[0] + '/')}", None),
        ("DELETE", "/api/buckets/alice-models", None),
    ]
    for method, path, body in attempts:
        resp = await seeded.fetch(path + q, method, user="bob", body=body,
                                  headers={"Content-Type": "application/json"} if body else None)
        assert resp.status == 403, (method, path, resp.status, resp.text)
        assert "private" not in resp.text
    up = await put_object(seeded, "bob", "alice-models", f"{key}.bob", b"x", source=ALICE)
    assert up.status == 403
    chosen = await seeded.fetch("/api/s3/source", "PUT", user="bob", json={"source": ALICE})
    assert chosen.status == 403
    # bob on his own connection: it reaches his bucket, never alice's by name
    await seeded.fetch("/api/s3/source", "PUT", user="bob", json={"source": BOB})
    for method, path, body in attempts[2:]:
        resp = await seeded.fetch(path, method, user="bob")
        assert resp.status == 403 and resp.json()["error"] == "AccessDenied", (method, path)
    up = await put_object(seeded, "bob", "alice-models", f"{key}.bob", b"x")
    assert up.status == 403
    made = await seeded.fetch("/api/buckets", "POST", user="bob",
                              json={"bucketName": "bob-made-this"})
    assert made.status == 403
    # nothing of alice's changed, nothing was added
    assert (await aio_s3.get_object(Bucket="alice-models", Key=key))["ContentLength"] == 7
    listed = await aio_s3.list_objects_v2(Bucket="alice-models", Prefix=key)
    assert [o["Key"] for o in listed.get("Contents", [])] == [key]
    # his own bucket works
    assert (await put_object(seeded, "bob", "bob-data", f"{key}.ok", b"bob")).status == 200


async def test_connection_change_and_deletion_within_the_ttl(seeded: Any, sandbox_s3: Any,
                                                             tokens: dict[str, str]) -> None:
    kube, token = seeded.app.kube, tokens["alice"]
    name = f"tmp-{uuid.uuid4().hex[:6]}"
    path = "/api/v1/namespaces/alice-project/secrets"
    source = await add_connection(seeded, token, name, AWS_ACCESS_KEY_ID="k1",
                                  AWS_SECRET_ACCESS_KEY="s1",
                                  AWS_S3_ENDPOINT=sandbox_s3.endpoint,
                                  AWS_S3_BUCKET="alice-models")
    access = seeded.app.service("s3.access")
    assert (await seeded.fetch("/api/s3/source", "PUT", user="alice",
                               json={"source": source})).status == 200
    assert (await seeded.fetch("/api/buckets", user="alice")).status == 200
    # the hot path: no cluster read and no new client per request
    reads, opened = access.user_store.reads, access.pool.opened
    conn_reads = access.connection_reads
    for _ in range(3):
        assert (await seeded.fetch("/api/objects/alice-models", user="alice")).status == 200
    assert access.user_store.reads == reads and access.pool.opened == opened
    assert access.connection_reads <= conn_reads + 1  # at most one TTL expiry meanwhile
    # new keys: a new client once the TTL ran out, the old one retired
    await kube.json("PATCH", f"{path}/{name}", token=token,
                    json={"stringData": {"AWS_ACCESS_KEY_ID": "k2"}},
                    headers={"Content-Type": "application/merge-patch+json"})

    async def new_client() -> bool:
        await seeded.fetch("/api/objects/alice-models", user="alice")
        return any(c.access_key_id == "k2" for c in access.pool._live)

    await eventually(new_client, "a client with the new keys", timeout=5)
    assert not any(c.access_key_id == "k1" for c in access.pool._live)
    # deleted: the source stops working within the TTL, with the clear 403
    await kube.json("DELETE", f"{path}/{name}", token=token)

    async def refused() -> bool:
        resp = await seeded.fetch("/api/objects/alice-models", user="alice")
        return resp.status == 403 and resp.json()["error"] == "NoS3Source" and \
            "not usable any more" in resp.json()["message"]

    await eventually(refused, "the deleted connection refused", timeout=5)
    explicit = await seeded.fetch(f"/api/buckets?source={source}", user="alice")
    assert explicit.status == 404
    assert not any(c.access_key_id == "k2" for c in access.pool._live)


async def test_own_settings_are_a_source(seeded: Any, sandbox_s3: Any) -> None:
    saved = await seeded.fetch("/api/settings/s3", "PUT", user="bob", json={
        "accessKeyId": "bob-own", "secretAccessKey": "bob-own-secret",
        "endpoint": sandbox_s3.endpoint, "region": "us-east-1", "defaultBucket": "bob-data"})
    assert saved.status == 200, saved.text
    # with his own settings saved they are his default source
    src = (await seeded.fetch("/api/s3/source", user="bob")).json()["data"]
    assert src["id"] == "user" and src["bucket"] == "bob-data"
    assert (await seeded.fetch("/api/objects/bob-data", user="bob")).status == 200
    listed = (await seeded.fetch("/api/s3/sources", user="bob")).json()["data"]["sources"]
    assert [s["id"] for s in listed] == ["user", BOB]
    assert "bob-own-secret" not in json.dumps(listed)
    # alice cannot name bob's own settings: "user" is always the caller's
    assert (await seeded.fetch("/api/buckets?source=user", user="alice")).status == 403


async def test_bad_source_ids_are_400(seeded: Any) -> None:
    for bad in ("conn:../x", "conn:alice-project", "other", "conn:Alice/x"):
        resp = await seeded.fetch(f"/api/buckets?source={bad}", user="alice")
        assert resp.status == 400 and resp.json()["error"] == "InvalidSource", bad


async def test_a_connection_cannot_point_odh_core_anywhere(seeded: Any,
                                                           tokens: dict[str, str]) -> None:
    """The endpoint of a user's connection is the user's choice: only allowed endpoints."""
    name = f"meta-{uuid.uuid4().hex[:6]}"
    await add_connection(seeded, tokens["alice"], name, AWS_ACCESS_KEY_ID="k",
                         AWS_SECRET_ACCESS_KEY="s",
                         AWS_S3_ENDPOINT="http://169.254.169.254/latest")
    opened = seeded.app.service("s3.access").pool.opened
    resp = await seeded.fetch(f"/api/buckets?source=conn:alice-project/{name}", user="alice")
    assert resp.status == 403 and resp.json()["error"] == "EndpointNotAllowed"
    assert seeded.app.service("s3.access").pool.opened == opened  # no client was made
    chosen = await seeded.fetch("/api/s3/source", "PUT", user="alice",
                                json={"source": f"conn:alice-project/{name}"})
    assert chosen.status == 403


class TestWatchedConnection:
    """Where the caller may watch the Secret, changes take effect before the TTL runs out."""

    @pytest.fixture
    def s3_plugin_config(self, s3_plugin_config: dict[str, Any]) -> dict[str, Any]:
        return {**s3_plugin_config, "connection_ttl": 600}

    async def test_changed_and_deleted_connection_seen_by_the_watch(
            self, seeded: Any, sandbox_s3: Any, tokens: dict[str, str]) -> None:
        kube, token = seeded.app.kube, tokens["alice"]
        name = f"w-{uuid.uuid4().hex[:6]}"
        path = "/api/v1/namespaces/alice-project/secrets"
        q = "?source=" + await add_connection(
            seeded, token, name, AWS_ACCESS_KEY_ID="w1", AWS_SECRET_ACCESS_KEY="s",
            AWS_S3_ENDPOINT=sandbox_s3.endpoint, AWS_S3_BUCKET="alice-models")
        access = seeded.app.service("s3.access")
        assert (await seeded.fetch(f"/api/objects/alice-models{q}", user="alice")).status == 200
        key = next(k for k in access._connections if k[2] == name)
        await eventually(lambda: access.watches.watching(key), "alice's watch on the Secret")
        await kube.json("PATCH", f"{path}/{name}", token=token,
                        json={"stringData": {"AWS_ACCESS_KEY_ID": "w2"}},
                        headers={"Content-Type": "application/merge-patch+json"})
        await eventually(lambda: key not in access._connections, "the change seen")
        assert (await seeded.fetch(f"/api/objects/alice-models{q}", user="alice")).status == 200
        assert any(c.access_key_id == "w2" for c in access.pool._live)
        assert not any(c.access_key_id == "w1" for c in access.pool._live)
        await kube.json("DELETE", f"{path}/{name}", token=token)
        await eventually(lambda: key not in access._connections, "the deletion seen")
        gone = await seeded.fetch(f"/api/objects/alice-models{q}", user="alice")
        assert gone.status == 404
