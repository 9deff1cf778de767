"""The API server's transport: plain http is refused outside sandbox/dev mode, cleanly."""
import pytest

from odh_core.testing import build_settings, start_server


@pytest.fixture
def odh_config():
    return {"sandbox": {"mode": "off"}}


async def test_plain_http_api_server_is_refused_without_leaking():
    # Port 1: nothing is contacted; the refusal happens before any request. A leaked
    # aiohttp session would fail this test (ResourceWarning is an error here).
    config = {"kubernetes": {"host": "http://127.0.0.1:1", "token": "t"},
              "sandbox": {"mode": "off"}}
    with pytest.raises(Exception, match="refusing plain-http API server"):
        await start_server(build_settings(config, []))
    for allowed in ({"auth": {"mode": "dev"}}, {"kubernetes": {**config["kubernetes"],
                                                                "allow_plain_http": True}}):
        server = await start_server(build_settings({**config, **allowed}, []))
        await server.close()
