"""Core benchmark (issue 2): the request pipeline vs a bare Tornado handler, workers scaling,
and startup time.

    .venv/bin/python -m bench.core

Needs wrk (Debian package). The sandbox API server runs in this process (it is idle once the
token's identity is cached); odh-core runs in child processes.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml

from odh_core.sandbox.kube import SandboxKube

from .common import PYTHON, ROOT, Child, free_port, median_of, report, wait_http, wrk

RUNS, SECONDS = 3, 4


def write_config(path: Path, kube: SandboxKube, **extra: object) -> Path:
    cfg = {"kubernetes": {"host": kube.https_url, "ca_file": kube.ca_file,
                          "token": kube.token("odh-core")},
           "sandbox": {"mode": "off"}, "plugin_autoload": False,
           "plugins": {"example": {"enabled": True}}, **extra}
    path.write_text(yaml.safe_dump(cfg))
    return path


def main() -> None:
    kube = SandboxKube().start()
    tmp = Path(tempfile.mkdtemp(prefix="odh-bench-"))
    auth = {"Authorization": f"Bearer {kube.token('alice')}"}
    try:
        cfg = write_config(tmp / "odh.yaml", kube)
        odh_port, bare_port = free_port(), free_port()
        with Child([PYTHON, "-m", "bench.core_servers", str(cfg), str(odh_port), str(bare_port)],
                   cwd=str(ROOT), log=tmp / "servers.log"):
            wait_http(f"http://127.0.0.1:{odh_port}/api/example/hello", headers=auth)
            wait_http(f"http://127.0.0.1:{bare_port}/api/example/hello", headers=auth)
            pipe, bare = [], []
            for _ in range(RUNS):  # interleaved, so drift hits both alike
                bare.append(wrk(f"http://127.0.0.1:{bare_port}/api/example/hello",
                                seconds=SECONDS, headers=auth))
                pipe.append(wrk(f"http://127.0.0.1:{odh_port}/api/example/hello",
                                seconds=SECONDS, headers=auth))
            med = lambda rs, k: sorted(r[k] for r in rs)[len(rs) // 2]  # noqa: E731
            report("bare_tornado_rps", med(bare, "rps"), "req/s")
            report("pipeline_rps", med(pipe, "rps"), "req/s")
            report("pipeline_vs_bare_ratio", med(pipe, "rps") / med(bare, "rps"), "x",
                   ">= 0.7")
            report("pipeline_p50_ms", med(pipe, "p50_ms"), "ms")
            report("pipeline_p99_ms", med(pipe, "p99_ms"), "ms")

        by_workers = {}
        for workers in (1, 2):
            port = free_port()
            with Child([str(ROOT / ".venv/bin/odh-core"), "serve", "--config", str(cfg),
                        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                       cwd=str(ROOT), log=tmp / f"workers{workers}.log"):
                url = f"http://127.0.0.1:{port}/api/example/hello"
                wait_http(url, headers=auth)
                for _ in range(8):  # every worker caches the identity before measuring
                    wait_http(url, headers=auth)
                by_workers[workers] = median_of(RUNS, lambda: wrk(
                    url, seconds=SECONDS, connections=64, threads=2, headers=auth))["rps"]
        report("workers1_rps", by_workers[1], "req/s")
        report("workers2_rps", by_workers[2], "req/s")
        report("workers2_vs_workers1", by_workers[2] / by_workers[1], "x", ">= 1.7")

        all_cfg = write_config(tmp / "all.yaml", kube, plugin_autoload=True, plugins={})
        times = []
        for _ in range(RUNS):
            port = free_port()
            start = time.perf_counter()
            with Child([str(ROOT / ".venv/bin/odh-core"), "serve", "--config", str(all_cfg),
                        "--host", "127.0.0.1", "--port", str(port)], cwd=str(ROOT),
                       log=tmp / "startup.log"):
                wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
                times.append(time.perf_counter() - start)
        report("startup_to_healthz_s", sorted(times)[len(times) // 2], "s", "< 1.5")
    finally:
        kube.stop()


if __name__ == "__main__":
    main()
