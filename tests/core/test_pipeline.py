"""The request pipeline over real HTTP: identity, deny-by-default, errors, request id, metrics."""
import logging


async def test_identity_reaches_the_handler(odh_server):
    resp = await odh_server.fetch("/api/toy/whoami", token="t-alice")
    assert resp.status == 200
    assert resp.json()["data"] == {"user": "alice"}
    assert resp.json()["success"] is True and "timestamp" in resp.json()


async def test_no_identity_is_401_json(odh_server):
    resp = await odh_server.fetch("/api/toy/whoami")
    assert resp.status == 401
    body = resp.json()
    assert body["success"] is False and body["error"] == "Unauthorized"
    assert body["requestId"] == resp.headers["X-Request-Id"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_header_names_are_configurable_order(odh_server):
    resp = await odh_server.fetch("/api/toy/whoami",
                                  headers={"x-forwarded-access-token": "t-alice"})
    assert resp.json()["data"]["user"] == "alice"
    resp = await odh_server.fetch("/api/toy/whoami", headers={"Authorization": "Basic t-alice"})
    assert resp.status == 401  # only Bearer counts


async def test_anonymous_route_opts_out(odh_server):
    assert (await odh_server.fetch("/api/toy/public")).status == 200


async def test_admin_route(odh_server):
    assert (await odh_server.fetch("/api/toy/admin", token="t-alice")).status == 403
    assert (await odh_server.fetch("/api/toy/admin", token="t-root")).json()["data"] == "secret"


async def test_request_id_is_accepted_or_generated(odh_server):
    resp = await odh_server.fetch("/api/toy/public", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    resp = await odh_server.fetch("/api/toy/public", headers={"X-Request-Id": "bad id\u00e9"})
    assert resp.headers["X-Request-Id"] not in ("", "bad id")
    assert len(resp.headers["X-Request-Id"]) == 32


async def test_uncaught_exception_is_generic_500(odh_server, caplog):
    with caplog.at_level(logging.ERROR):
        resp = await odh_server.fetch("/api/toy/boom", token="t-alice")
    assert resp.status == 500
    assert "internal detail" not in resp.text and "Traceback" not in resp.text
    assert resp.json()["requestId"] == resp.headers["X-Request-Id"]
    assert any("internal detail" in r.getMessage() or r.exc_info for r in caplog.records)


async def test_api_error_shape(odh_server):
    resp = await odh_server.fetch("/api/toy/boom", "POST", token="t-alice", body=b"")
    assert resp.status == 418
    body = resp.json()
    assert (body["message"], body["hint"], body["statusCode"]) == ("short and stout", "tea", 418)


async def test_unknown_path_is_json_404(odh_server):
    resp = await odh_server.fetch("/api/nothing-here", token="t-alice")
    assert resp.status == 404 and resp.json()["success"] is False


async def test_unsupported_method_is_405(odh_server):
    resp = await odh_server.fetch("/api/toy/whoami", "DELETE", token="t-alice")
    assert resp.status == 405 and resp.json()["statusCode"] == 405


async def test_metrics_are_labelled_by_handler_not_url(odh_server):
    await odh_server.fetch("/api/toy/whoami", token="t-alice")
    await odh_server.fetch("/api/toy/whoami?x=1", token="t-alice")
    text = (await odh_server.fetch("/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith(
        "odh_http_request_duration_seconds_count") and 'handler="WhoAmI"' in x)
    assert 'plugin="toy"' in line and 'code="200"' in line and 'method="GET"' in line
    assert line.endswith(" 2.0")
    assert "x=1" not in text


async def test_token_never_reaches_the_logs(odh_server, caplog):
    from odh_core.observability import JsonFormatter, TextFormatter

    with caplog.at_level(logging.DEBUG):
        await odh_server.fetch("/api/toy/whoami", token="secret-token-123")
        await odh_server.fetch("/api/toy/boom?access_token=secret-token-123",
                               headers={"x-forwarded-access-token": "secret-token-123",
                                        "Cookie": "session=secret-token-123"})
        await odh_server.fetch("/api/toy/whoami?token=secret-token-123")
    assert any(r.name == "odh.access" for r in caplog.records)
    for fmt in (JsonFormatter(), TextFormatter()):
        rendered = "\n".join(fmt.format(r) for r in caplog.records)
        assert "secret-token-123" not in rendered


async def test_readyz_names_the_failing_check(odh_server):
    resp = await odh_server.fetch("/readyz")
    assert resp.status == 200 and resp.json()["status"] == "ok"


class TestBrokenCheck:
    import pytest

    @pytest.fixture
    def odh_config(self, odh_config):
        return {**odh_config, "plugins": {"toy": {"flavour": "broken"}}}

    async def test_readyz_503_names_plugin_and_check(self, odh_server):
        resp = await odh_server.fetch("/readyz")
        assert resp.status == 503
        body = resp.json()
        assert body["message"] == "failing: toy/backend"
        failing = [c for c in body["checks"] if not c["ok"]]
        assert failing == [{"plugin": "toy", "name": "backend", "critical": True, "ok": False,
                            "error": "toy backend unreachable", "ms": failing[0]["ms"]}]
        assert (await odh_server.fetch("/healthz")).status == 200
        assert (await odh_server.fetch("/api/health")).json() == {"health": "ok"}


async def test_startup_and_shutdown_hooks_run(odh_server):
    toy = odh_server.app.plugin("toy")
    assert toy.events == ["startup"]
