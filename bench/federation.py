"""Federation proxy benchmark (issue 8): requests/s and p50/p99 of a small GET through a
federated module's proxyService path vs straight to the package BFF, and the time to answer
while the target's circuit breaker is open.

    .venv/bin/python -m bench.federation

Needs wrk (Debian package). The BFF (a Tornado app), the sandbox API server (identities) and
odh-core run as separate processes.
"""
from __future__ import annotations

import statistics
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .common import (PYTHON, ROOT, Child, SandboxChild, free_port, report, wait_http,
                     write_odh_config, wrk)

RUNS, SECONDS = 3, 4
BFF = """
import asyncio, sys, tornado.web
class H(tornado.web.RequestHandler):
    def get(self, path):
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"items":[{"name":"a","value":1},{"name":"b","value":2}]}')
async def main():
    tornado.web.Application([(r"/(.*)", H)]).listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main())
"""


def timed_get(url: str, headers: dict) -> tuple[int, float]:
    req = urllib.request.Request(url, headers=headers)
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    return status, time.perf_counter() - t0


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="odh-bench-federation-"))
    oport, bport, dead = (free_port() for _ in range(3))
    bff_py = tmp / "bff.py"
    bff_py.write_text(BFF)
    with Child([PYTHON, str(bff_py), str(bport)], log=tmp / "bff.log"), \
            SandboxChild(tmp) as sandbox:
        direct = f"http://127.0.0.1:{bport}/api/v1/items"
        wait_http(direct)
        tokens = sandbox.tokens
        cfg = write_odh_config(tmp / "odh.yaml", sandbox.http_url,
                               sandbox.service_account_token, {"federation": {
            "env_config": None, "ca_file": None,
            "failure_threshold": 3, "reset_timeout": 3600, "retries": 0,
            "modules": [
                {"name": "bench", "proxyService": [{
                    "path": "/bench/api", "pathRewrite": "/api",
                    "service": {"url": f"http://127.0.0.1:{bport}"}, "authorize": True}]},
                {"name": "down", "proxyService": [{
                    "path": "/down/api", "service": {"url": f"http://127.0.0.1:{dead}"}}]},
            ]}})
        auth = {"Authorization": f"Bearer {tokens['alice']}"}
        with Child([PYTHON, "-m", "odh_core", "serve", "--config", str(cfg), "--host",
                    "127.0.0.1", "--port", str(oport)], cwd=str(ROOT), log=tmp / "odh.log"):
            proxied = f"http://127.0.0.1:{oport}/bench/api/v1/items"
            wait_http(proxied, headers=auth)
            via, straight = [], []
            for _ in range(RUNS):  # interleaved, so drift hits both alike
                straight.append(wrk(direct, seconds=SECONDS, headers=auth))
                via.append(wrk(proxied, seconds=SECONDS, headers=auth))
            med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
            report("federation_direct_get_rps", med(straight, "rps"), "req/s")
            report("federation_proxy_get_rps", med(via, "rps"), "req/s")
            report("federation_get_rps_ratio", med(via, "rps") / med(straight, "rps"), "x",
                   ">= 0.5 (vs direct)")
            for q in ("p50_ms", "p99_ms"):
                report(f"federation_proxy_get_{q}", med(via, q), "ms")
                report(f"federation_get_{q.split('_')[0]}_ratio", med(via, q) / med(straight, q),
                       "x", "<= 2 (vs direct)")

            # Open the breaker of the dead target, then time the answers it gives.
            down = f"http://127.0.0.1:{oport}/down/api/x"
            closed = [timed_get(down, auth) for _ in range(3)]
            assert all(s == 502 for s, _ in closed), closed
            opened = [timed_get(down, auth) for _ in range(50)]
            assert all(s == 503 for s, _ in opened), {s for s, _ in opened}
            healthy = [timed_get(proxied, auth)[1] for _ in range(50)]
            report("federation_breaker_open_answer_ms",
                   statistics.median(t for _, t in opened) * 1000, "ms", "<= 5")
            report("federation_breaker_open_vs_healthy_get",
                   statistics.median(t for _, t in opened) / statistics.median(healthy), "x",
                   "<= 1.5")


if __name__ == "__main__":
    main()
