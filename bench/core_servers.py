"""Child process for bench.core: the full odh-core pipeline and a bare Tornado handler, side by
side in one process and one event loop, so the ratio isolates what odh-core adds."""
from __future__ import annotations

import asyncio
import json
import os
import sys

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from odh_core.app import App
from odh_core.config import load_settings
from odh_core.observability import configure_logging


class Bare(tornado.web.RequestHandler):
    """What the route does, without odh-core: read the token, answer the same JSON."""

    def get(self) -> None:
        token = self.request.headers.get("Authorization", "")[7:]
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"success": True, "data": {"greeting": "Hello, " + token[:0]
                                                          + "alice", "groups": []}}))


async def main(config: str, odh_port: int, bare_port: int) -> None:
    settings = load_settings(config)
    configure_logging(settings.logging.level, "json", open(os.devnull, "w"))
    app = App(settings)
    await app.start()
    HTTPServer(app.tornado).add_sockets(bind_sockets(odh_port, "127.0.0.1"))
    HTTPServer(tornado.web.Application([(r"/api/example/hello", Bare)])).add_sockets(
        bind_sockets(bare_port, "127.0.0.1"))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
