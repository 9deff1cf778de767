"""Security headers, CORS, the audit trail and per-user limits (issue 11), over real HTTP."""
import json
import logging

import pytest

from odh_core.observability import JsonFormatter


async def test_security_headers_on_success_error_and_streams(odh_server):
    for path, token in (("/api/toy/whoami", "t-alice"), ("/api/toy/boom", "t-alice"),
                        ("/api/nothing", None), ("/metrics", None)):
        resp = await odh_server.fetch(path, token=token)
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert resp.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], path
        assert resp.headers["Referrer-Policy"] == "same-origin", path
        assert "Strict-Transport-Security" not in resp.headers  # plain http here
    resp = await odh_server.fetch("/api/toy/public", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")


async def test_cors_is_off_by_default(odh_server):
    resp = await odh_server.fetch("/api/toy/whoami", "OPTIONS", headers={
        "Origin": "https://ui.example", "Access-Control-Request-Method": "GET"})
    assert resp.status == 401 and "Access-Control-Allow-Origin" not in resp.headers


class TestCors:
    @pytest.fixture
    def odh_config(self, odh_config):
        return {**odh_config, "server": {**odh_config["server"], "cors": {
            "allowed_origins": ["https://ui.example"], "allow_credentials": True}}}

    async def test_preflight_from_allowed_origin_needs_no_identity(self, odh_server):
        resp = await odh_server.fetch("/api/toy/whoami", "OPTIONS", headers={
            "Origin": "https://ui.example", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "https://ui.example"
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert "PUT" in resp.headers["Access-Control-Allow-Methods"]

    async def test_preflight_from_other_origin_fails(self, odh_server):
        resp = await odh_server.fetch("/api/toy/whoami", "OPTIONS", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers

    async def test_actual_request_exposes_download_headers(self, odh_server):
        resp = await odh_server.fetch("/api/toy/whoami", token="t-alice",
                                      headers={"Origin": "https://ui.example"})
        assert resp.headers["Access-Control-Allow-Origin"] == "https://ui.example"
        assert "Content-Disposition" in resp.headers["Access-Control-Expose-Headers"]
        resp = await odh_server.fetch("/api/toy/whoami", token="t-alice",
                                      headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_each_mutating_request_yields_one_audit_event(odh_server, caplog):
    with caplog.at_level(logging.INFO, logger="odh.audit"):
        await odh_server.fetch("/api/toy/whoami", token="secret-token-123")  # read: no event
        await odh_server.fetch("/api/toy/boom", "POST", token="secret-token-123",
                               body=b"{}")
        await odh_server.fetch("/api/toy/admin", token="t-root")  # admin read: event
    events = [r for r in caplog.records if r.name == "odh.audit"]
    assert [(e.verb, e.user, e.code) for e in events] == [("POST", "carol", 418),
                                                          ("GET", "root", 200)]
    assert events[0].route == "/api/toy/boom" and events[0].request_id
    rendered = "\n".join(JsonFormatter().format(e) for e in events)
    assert "secret-token-123" not in rendered
    assert json.loads(JsonFormatter().format(events[1]))["adminRoute"] is True


class TestRateLimit:
    @pytest.fixture
    def odh_config(self, odh_config):
        return {**odh_config, "limits": {"requests_per_second": 0.001, "burst": 3,
                                         "exempt_admins": True}}

    async def test_user_over_the_rate_gets_429_others_unaffected(self, odh_server):
        codes = [(await odh_server.fetch("/api/toy/whoami", token="t-alice")).status
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        resp = await odh_server.fetch("/api/toy/whoami", token="t-alice")
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        assert resp.json()["message"].startswith("too many requests")
        assert (await odh_server.fetch("/api/toy/whoami", token="secret-token-123")).status == 200
        for _ in range(5):  # admins are exempt
            assert (await odh_server.fetch("/api/toy/whoami", token="t-root")).status == 200
        metrics = (await odh_server.fetch("/metrics")).text
        assert 'odh_limit_rejections_total{limit="rate"} 2.0' in metrics


class TestStreamLimit:
    @pytest.fixture
    def odh_config(self, odh_config):
        return {**odh_config, "limits": {"concurrent_streams": 1, "exempt_admins": False}}

    async def test_second_concurrent_stream_is_refused_until_the_first_ends(self, odh_server):
        import asyncio

        toy = odh_server.app.plugin("toy")
        first = asyncio.ensure_future(odh_server.fetch("/api/toy/stream", token="t-alice"))
        await asyncio.wait_for(toy.gate.entered.wait(), 10)
        second = await odh_server.fetch("/api/toy/stream", token="t-alice")
        assert second.status == 429
        other_user = asyncio.ensure_future(odh_server.fetch("/api/toy/stream", token="t-root"))
        toy.gate.release.set()
        assert (await first).status == 200 and (await other_user).status == 200
        assert odh_server.app.limits.open_streams("alice") == 0
        assert (await odh_server.fetch("/api/toy/stream", token="t-alice")).status == 200
