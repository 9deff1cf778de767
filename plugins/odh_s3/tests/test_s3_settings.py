"""Settings: admins change the shared ones, users their own; masking, persistence (Secret +
ConfigMap), no secret leaks."""
from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest

from odh_core import SERVICE_ACCOUNT
from odh_core.testing import eventually

SECRET = "sUp3r-s3cret-V4lue-xyz"


async def test_non_admins_change_only_their_own(odh_server: Any, sandbox_s3: Any,
                                                clean_users: None) -> None:
    for path, body in (("/api/settings/proxy", {"httpProxy": "http://proxy:3128"}),):
        resp = await odh_server.fetch(path, "PUT", user="alice", json=body)
        assert resp.status == 403, path
        assert set(resp.json()) >= {"error", "message"}
    assert (await odh_server.fetch("/api/settings/test-proxy", "POST", user="bob",
                                   json={})).status == 403
    access = odh_server.app.service("s3.access")
    shared_before = access.connection
    # alice's S3 settings are hers: the shared ones are untouched, bob sees none of hers
    resp = await odh_server.fetch("/api/settings/s3", "PUT", user="alice", json={
        "accessKeyId": "alice-key", "secretAccessKey": SECRET, "region": "eu-west-1",
        "endpoint": sandbox_s3.endpoint, "defaultBucket": "alice-own"})
    assert resp.status == 200, resp.text
    assert resp.json()["settings"] == {"accessKeyId": "alice-key", "secretAccessKey": "********",
                                       "region": "eu-west-1", "endpoint": sandbox_s3.endpoint,
                                       "defaultBucket": "alice-own"}
    assert access.connection == shared_before
    assert (await odh_server.fetch("/api/settings/s3", user="bob")).json()["settings"][
        "accessKeyId"] == ""
    assert (await odh_server.fetch("/api/settings/s3", user="admin")).json()["settings"][
        "accessKeyId"] == sandbox_s3.access_key
    # an endpoint no admin allowed: refused, nothing saved
    bad = await odh_server.fetch("/api/settings/s3", "PUT", user="alice",
                                 json={"endpoint": "http://169.254.169.254/"})
    assert bad.status == 400 and bad.json()["error"] == "EndpointNotAllowed"
    got = (await odh_server.fetch("/api/settings/s3", user="alice")).json()["settings"]
    assert got["endpoint"] == sandbox_s3.endpoint and SECRET not in json.dumps(got)
    # bob has nothing to test; alice tests hers (the mask: her saved secret)
    assert (await odh_server.fetch("/api/settings/test-s3", "POST", user="bob",
                                   json={})).status == 400
    ok = await odh_server.fetch("/api/settings/test-s3", "POST", user="alice",
                                json={**got, "defaultBucket": ""})
    assert ok.status == 200, ok.text
    # transfers: each user's own value, at most the admin's maximum (2 by default)
    over = await odh_server.fetch("/api/settings/max-concurrent-transfers", "PUT", user="alice",
                                  json={"maxConcurrentTransfers": 3})
    assert over.status == 400 and "at most 2" in over.json()["message"]
    one = await odh_server.fetch("/api/settings/max-concurrent-transfers", "PUT", user="alice",
                                 json={"maxConcurrentTransfers": 1})
    assert one.json()["maxConcurrentTransfers"] == 1
    assert (await odh_server.fetch("/api/settings/max-concurrent-transfers", user="bob")
            ).json()["maxConcurrentTransfers"] == 2
    assert access.slots.admin_max == 2


async def test_secret_masked_persisted_and_never_leaked(
        odh_server: Any, sandbox_s3: Any, s3_plugin_config: dict[str, Any], clean_users: None,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []

    async def call(path: str, method: str = "GET", **kw: Any) -> Any:
        resp = await odh_server.fetch(path, method, **kw)
        bodies.append(resp.text + json.dumps(dict(resp.headers)))
        return resp

    view = (await call("/api/settings/s3", user="admin")).json()["settings"]
    assert set(view) == {"accessKeyId", "secretAccessKey", "region", "endpoint", "defaultBucket"}
    assert view["secretAccessKey"] == "********" and view["endpoint"] == sandbox_s3.endpoint
    # an endpoint nobody listens on: test-s3 answers 502 JSON, stored settings untouched
    bad = await call("/api/settings/test-s3", "POST", user="admin",
                     json={**view, "secretAccessKey": SECRET, "endpoint": "http://127.0.0.1:9"})
    assert bad.status == 502 and bad.json()["error"] == "S3Unreachable"
    assert odh_server.app.service("s3.access").connection.endpoint == sandbox_s3.endpoint
    ok = await call("/api/settings/test-s3", "POST", user="admin", json=view)  # mask = current
    assert ok.status == 200 and ok.json() == {"message": "Connection successful"}
    # save a new secret, then put the mask back: the secret stays
    resp = await call("/api/settings/s3", "PUT", user="admin",
                      json={**view, "secretAccessKey": SECRET, "region": "us-east-1"})
    assert resp.status == 200 and resp.json()["settings"]["secretAccessKey"] == "********"
    access = odh_server.app.service("s3.access")
    assert access.connection.secret_access_key == SECRET
    resp = await call("/api/settings/s3", "PUT", user="admin", json=resp.json()["settings"])
    assert access.connection.secret_access_key == SECRET
    # persisted: credentials in the Secret, the rest in the ConfigMap
    kube, ns = odh_server.app.kube, "opendatahub"
    secret = await kube.json("GET", f"/api/v1/namespaces/{ns}/secrets/"
                             f"{s3_plugin_config['settings_secret']}", token=SERVICE_ACCOUNT)
    assert base64.b64decode(secret["data"]["secretAccessKey"]).decode() == SECRET
    cm = await kube.json("GET", f"/api/v1/namespaces/{ns}/configmaps/"
                         f"{s3_plugin_config['settings_configmap']}", token=SERVICE_ACCOUNT)
    assert SECRET not in json.dumps(cm) and "region" in cm["data"]["settings.json"]
    # restore the working secret (the mask must not be taken literally anywhere)
    resp = await call("/api/settings/s3", "PUT", user="admin",
                      json={"secretAccessKey": sandbox_s3.secret_key})
    assert resp.status == 200
    buckets = await call("/api/buckets", user="alice")
    assert buckets.status == 200
    # proxy settings: only http(s); a password in the URL is masked too
    bad = await call("/api/settings/proxy", "PUT", user="admin",
                     json={"httpProxy": "file:///etc/passwd"})
    assert bad.status == 400
    resp = await call("/api/settings/proxy", "PUT", user="admin",
                      json={"httpProxy": f"http://u:{SECRET}@127.0.0.1:9", "httpsProxy": ""})
    assert resp.status == 200
    assert resp.json()["settings"]["httpProxy"] == "http://u:********@127.0.0.1:9"
    got = (await call("/api/settings/proxy", user="alice")).json()
    assert SECRET not in json.dumps(got)
    # the proxy is tested against the S3 endpoint only; nothing listens on port 9
    tp = await call("/api/settings/test-proxy", "POST", user="admin",
                    json={"testUrl": "http://169.254.169.254/latest/meta-data"})
    assert tp.status == 502 and tp.json()["error"] == "ProxyError"
    await call("/api/settings/proxy", "PUT", user="admin", json={"httpProxy": ""})
    # transfers: validated and applied at once
    assert (await call("/api/settings/max-concurrent-transfers", "PUT", user="admin",
                       json={"maxConcurrentTransfers": 0})).status == 400
    resp = await call("/api/settings/max-concurrent-transfers", "PUT", user="admin",
                      json={"maxConcurrentTransfers": 7})
    assert resp.json()["maxConcurrentTransfers"] == 7 and access.transfers.limit == 7
    # disclaimer: each user answers it for themselves
    assert (await call("/api/disclaimer", user="bob")).json() == {
        "disclaimer": {"status": "unknown"}}
    resp = await call("/api/disclaimer", "PUT", user="bob", json={"status": "accepted"})
    assert resp.json()["disclaimer"] == {"status": "accepted"}
    assert (await call("/api/disclaimer", user="bob")).json()["disclaimer"]["status"] == \
        "accepted"
    assert (await call("/api/disclaimer", user="alice")).json()["disclaimer"]["status"] == \
        "unknown"
    for text in bodies:
        assert SECRET not in text and sandbox_s3.secret_key not in text
    for record in caplog.records:
        line = record.getMessage() + str(record.__dict__)
        assert SECRET not in line and sandbox_s3.secret_key not in line, record.name


async def test_other_replica_sees_changes(odh_server: Any, odh_config: dict[str, Any],
                                          tokens: dict[str, str]) -> None:
    """A second app on the same Secret/ConfigMap picks up a change within the TTL."""
    from odh_core.testing import build_settings, start_server

    other_cfg = json.loads(json.dumps(odh_config))
    # no TTL: only the watch can tell the other replica
    other_cfg["plugins"]["s3"]["settings_ttl"] = 10_000
    other = await start_server(build_settings(other_cfg, ["s3"]), tokens=tokens)
    try:
        store = other.app.plugin("s3").settings.store
        await eventually(lambda: _watching(other), "the settings watches open")
        idle_reads = store.reads
        await asyncio.sleep(1.5)
        assert store.reads == idle_reads  # idle: no polling
        resp = await odh_server.fetch("/api/settings/max-concurrent-transfers", "PUT",
                                      user="admin", json={"maxConcurrentTransfers": 5})
        assert resp.status == 200
        async def seen() -> bool:
            got = await other.fetch("/api/settings/max-concurrent-transfers", user="alice")
            return got.json()["maxConcurrentTransfers"] == 5

        await eventually(seen, "the other replica seeing the new limit")
        assert other.app.service("s3.access").transfers.limit == 5
        assert store.reads > idle_reads
    finally:
        await other.close()


async def _watching(server: Any) -> bool:
    watches = server.app.plugin("s3").settings.watches  # empty until the settings loaded
    return bool(watches) and all(w.active for w in watches)


async def test_a_starting_replica_serves_its_persisted_settings_from_the_first_request(
        odh_server: Any, odh_config: dict[str, Any], tokens: dict[str, str]) -> None:
    """A replica loads its persisted settings once it listens, not before (start to first
    200, issue 22); a request that comes in meanwhile waits for them, and /readyz with it."""
    from odh_core.testing import build_settings, start_server

    resp = await odh_server.fetch("/api/settings/max-concurrent-transfers", "PUT",
                                  user="admin", json={"maxConcurrentTransfers": 7})
    assert resp.status == 200
    other = await start_server(build_settings(odh_config, ["s3"]), tokens=tokens)
    try:
        access = other.app.service("s3.access")
        assert access.loading is not None and not access.loading.done()
        got = await other.fetch("/api/settings/max-concurrent-transfers", user="alice")
        assert got.status == 200 and got.json()["maxConcurrentTransfers"] == 7
        assert access.loading.done()
    finally:
        await other.close()
        await odh_server.fetch("/api/settings/max-concurrent-transfers", "PUT", user="admin",
                               json={"maxConcurrentTransfers": None})
