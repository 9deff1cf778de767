"""Child processes for bench.watch: the sandbox API server, or odh-core with the watch plugin.

    python -m bench.watch_servers sandbox <info.json>
    python -m bench.watch_servers odh <config.yaml> <port>

Each raises its open-files limit first: a thousand WebSockets (and, per-user, a thousand
upstream watches) need more than the usual 1024 descriptors.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import sys


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


async def sandbox(info_path: str) -> None:
    from odh_sandbox.kube import SandboxKubeServer

    server = SandboxKubeServer()
    await server.start()
    info = {"https_url": server.https_url, "ca_file": server.ca_file,
            "tokens": {u: server.token(u) for u in ("admin", "alice", "odh-core")}}
    tmp = info_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, info_path)
    await asyncio.Event().wait()


async def odh(config: str, port: int) -> None:
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from odh_core.app import App
    from odh_core.config import load_settings
    from odh_core.observability import configure_logging

    settings = load_settings(config)
    configure_logging("WARNING", "json", open(os.devnull, "w"))
    app = App(settings)
    await app.start()
    HTTPServer(app.tornado).add_sockets(bind_sockets(port, "127.0.0.1"))
    await asyncio.Event().wait()


if __name__ == "__main__":
    raise_nofile()
    # The plugins live in plugins/ (an editable install made before they existed maps them as
    # namespace packages): put the directory first so `odh_watch` imports as a package.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "plugins"))
    if sys.argv[1] == "sandbox":
        asyncio.run(sandbox(sys.argv[2]))
    else:
        asyncio.run(odh(sys.argv[2], int(sys.argv[3])))
