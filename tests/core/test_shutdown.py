"""SIGTERM: stop accepting, let in-flight requests finish, then run shutdown hooks."""
import asyncio
import os
import signal
import socket

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.netutil import bind_sockets

from odh_core.config import validate_settings
from odh_core.server import serve_sockets
from odh_core.testing import eventually as wait_for
from odh_core.testing import static_identities

from .conftest import IDENTITIES, ToyPlugin


async def test_sigterm_drains_a_slow_request():
    settings = validate_settings({"sandbox": {"mode": "off"}, "server": {"grace_period": 30},
                                  "plugin_autoload": False,
                                  "plugins": {"toy": {"enabled": True},
                                              "static-identities": {"enabled": True}},
                                  "logging": {"access_log": False}})
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    started: list = []
    ready = asyncio.Event()

    def on_ready(app, _port):
        started.append(app)
        ready.set()

    server = asyncio.create_task(serve_sockets(
        settings, sockets, ready=on_ready,
        extra_plugins=[("toy", ToyPlugin), static_identities(IDENTITIES)]))
    await asyncio.wait({server, asyncio.ensure_future(ready.wait())}, timeout=10,
                       return_when=asyncio.FIRST_COMPLETED)
    assert ready.is_set(), server.exception() if server.done() else "server did not start"
    app = started[0]
    toy = app.plugin("toy")
    client = AsyncHTTPClient(force_instance=True)
    try:
        slow = asyncio.ensure_future(client.fetch(
            f"http://127.0.0.1:{port}/api/toy/slow", headers={"Authorization": "Bearer t-alice"},
            raise_error=False, request_timeout=30))
        await asyncio.wait_for(toy.gate.entered.wait(), 10)

        os.kill(os.getpid(), signal.SIGTERM)
        await wait_for(lambda: app.draining)
        with pytest.raises(ConnectionRefusedError), socket.create_connection(
                ("127.0.0.1", port), timeout=2):
            pass
        assert not server.done() and toy.events == ["startup"]

        toy.gate.release.set()
        resp = await asyncio.wait_for(slow, 10)
        assert resp.code == 200 and b'"done"' in resp.body
        await asyncio.wait_for(server, 10)
        assert toy.events == ["startup", "shutdown"]
    finally:
        client.close()
        if not server.done():
            server.cancel()
