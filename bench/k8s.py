"""k8s pass-through benchmark (issue 4): GET of one object through `/api/k8s` vs straight to
the sandbox API server, and odh-core's peak RSS while a ~200 MB list streams through it.

    .venv/bin/python -m bench.k8s

Needs wrk (Debian package). The sandbox (`odh-core sandbox`) and odh-core (`odh-core serve`)
run as separate processes, so the RSS figure is odh-core's alone.
"""
from __future__ import annotations

import json
import ssl
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from .common import (PYTHON, ROOT, Child, RssSampler, SandboxChild, free_port, report, wait_http,
                     write_odh_config, wrk)

RUNS, SECONDS = 7, 2
NS, OBJ = "alice-project", "bench-k8s-one"
BIG_NS, BIG_OBJECTS, BIG_OBJECT_BYTES = "bench-k8s-big", 400, 512 * 1024  # ~200 MiB list


def call(url: str, token: str, method: str = "GET", body: object = None,
         ctx: ssl.SSLContext | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
        return json.loads(resp.read())


def stream_size(url: str, token: str) -> tuple[int, float]:
    """Read a response in 1 MiB pieces, keeping none of it; (bytes, seconds)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    size, t0 = 0, time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as resp:
        while chunk := resp.read(2**20):
            size += len(chunk)
    return size, time.perf_counter() - t0


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="odh-bench-k8s-"))
    oport = free_port()
    with SandboxChild(tmp) as sandbox:
        tokens, ca_file = sandbox.tokens, sandbox.ca_file
        plain, secure = sandbox.http_url, sandbox.https_url

        # The objects: one to GET, and a namespace whose list is ~200 MiB.
        call(f"{plain}/api/v1/namespaces/{NS}/configmaps", tokens["alice"], "POST",
             {"metadata": {"name": OBJ}, "data": {"k": "v" * 512}})
        call(f"{plain}/api/v1/namespaces", tokens["admin"], "POST",
             {"metadata": {"name": BIG_NS}})
        filler = "x" * BIG_OBJECT_BYTES
        for i in range(BIG_OBJECTS):
            call(f"{plain}/api/v1/namespaces/{BIG_NS}/configmaps", tokens["admin"], "POST",
                 {"metadata": {"name": f"big-{i:04d}"}, "data": {"blob": filler}})

        cfg = write_odh_config(tmp / "odh.yaml", secure, sandbox.service_account_token,
                               {"k8s": {}}, ca_file=ca_file)
        path = f"/api/v1/namespaces/{NS}/configmaps/{OBJ}"
        auth = {"Authorization": f"Bearer {tokens['alice']}"}
        with Child([PYTHON, "-m", "odh_core", "serve", "--config", str(cfg), "--host",
                    "127.0.0.1", "--port", str(oport)], cwd=str(ROOT),
                   log=tmp / "odh.log") as odh:
            proxied = f"http://127.0.0.1:{oport}/api/k8s{path}"
            wait_http(proxied, headers=auth)
            # Interleaved runs; each ratio is the median of the runs' own ratios (the machine
            # drifts within a minute), and the order alternates so no side always runs last.
            targets = [("https", secure + path), ("http", plain + path), ("via", proxied)]
            runs = []
            for i in range(RUNS):
                order = targets if i % 2 == 0 else targets[::-1]
                runs.append({name: wrk(url, seconds=SECONDS, headers=auth)
                             for name, url in order})
            med = statistics.median
            report("k8s_direct_https_get_rps", med(r["https"]["rps"] for r in runs), "req/s")
            report("k8s_direct_http_get_rps", med(r["http"]["rps"] for r in runs), "req/s")
            report("k8s_proxy_get_rps", med(r["via"]["rps"] for r in runs), "req/s")
            report("k8s_get_rps_ratio", med(r["via"]["rps"] / r["https"]["rps"] for r in runs),
                   "x", ">= 0.7 (vs direct https)")
            report("k8s_get_rps_ratio_vs_plain_http",
                   med(r["via"]["rps"] / r["http"]["rps"] for r in runs), "x")
            for q in ("p50_ms", "p99_ms"):
                report(f"k8s_proxy_get_{q}", med(r["via"][q] for r in runs), "ms")
                report(f"k8s_get_{q.split('_')[0]}_ratio",
                       med(r["via"][q] / r["https"][q] for r in runs), "x",
                       "<= 1.5 (vs direct https)")

            big = f"/api/v1/namespaces/{BIG_NS}/configmaps"
            direct_size, direct_s = stream_size(plain + big, tokens["admin"])
            with RssSampler(odh.pid) as rss:
                size, seconds = stream_size(f"http://127.0.0.1:{oport}/api/k8s{big}",
                                            tokens["admin"])
            assert size == direct_size, (size, direct_size)
            report("k8s_big_list_mb", size / 1e6, "MB")
            report("k8s_big_list_proxy_mb_s", size / 1e6 / seconds, "MB/s")
            report("k8s_big_list_direct_mb_s", direct_size / 1e6 / direct_s, "MB/s")
            report("k8s_odh_rss_before_list_mb", rss.start / 2**20, "MiB")
            report("k8s_odh_rss_peak_during_list_mb", rss.peak / 2**20, "MiB")
            report("k8s_big_list_rss_growth_mb", rss.growth / 2**20, "MiB", "< 32")
            report("k8s_big_list_rss_growth_vs_size", rss.growth / size, "x")


if __name__ == "__main__":
    main()
