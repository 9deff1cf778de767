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


USERS = 100
GROUP = "bench-watchers"


async def sandbox(info_path: str) -> None:
    import tornado.web
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from odh_sandbox.kube import SandboxKubeServer
    from odh_sandbox.kube.rbac import UserInfo

    server = SandboxKubeServer()
    await server.start()
    users = {f"user-{i:03d}": f"bench-watch-token-{i:03d}" for i in range(USERS)}
    for name, token in users.items():  # the dashboard's users: distinct tokens, one group
        server.authn.add_static(token, UserInfo(name, (GROUP, "system:authenticated")))

    class Fault(tornado.web.RequestHandler):
        """The bench drives the sandbox's fault injection from its own process."""

        def post(self, what: str) -> None:
            arg = self.get_argument
            if what == "cut":
                server.faults.cut_watches(arg("path"))
            elif what == "latency":
                server.faults.add_latency(float(arg("seconds")), method="GET",
                                          path_regex=arg("path"), times=int(arg("times")))
            elif what == "compact":
                server.store.compact()
            self.finish("ok")

    control = free_port_local()
    HTTPServer(tornado.web.Application([(r"/fault/(\w+)", Fault)])).add_sockets(
        bind_sockets(control, "127.0.0.1"))
    info = {"https_url": server.https_url, "ca_file": server.ca_file,
            "control_url": f"http://127.0.0.1:{control}",
            "tokens": {u: server.token(u) for u in ("admin", "alice", "odh-core")},
            "users": users, "group": GROUP}
    tmp = info_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, info_path)
    await asyncio.Event().wait()


def free_port_local() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
