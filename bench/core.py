"""Core benchmark (issues 2 and 22): the request pipeline vs a bare Tornado handler, workers
scaling, and start to the first 200 (every plugin) vs a bare Tornado process.

    .venv/bin/python -m bench.core [startup]

Needs wrk (Debian package). The sandbox API server runs in this process (it is idle once the
token's identity is cached); odh-core runs in child processes.
"""
from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from odh_sandbox.kube import SandboxKube

from .common import PYTHON, ROOT, Child, cpu_seconds, free_port, report, wait_http, wrk

STARTUP_RUNS = 7
PAIRS, PAIR_SECONDS = 9, 2


def write_config(path: Path, kube: SandboxKube, **extra: object) -> Path:
    cfg = {"kubernetes": {"host": kube.https_url, "ca_file": kube.ca_file,
                          "token": kube.token("odh-core")},
           "sandbox": {"mode": "off"}, "plugin_autoload": False,
           "plugins": {"example": {"enabled": True}}, **extra}
    path.write_text(yaml.safe_dump(cfg))
    return path


# A bare Tornado server answering 200: what any Python web process costs to start, measured in
# the same interleaved runs (the machine's speed drifts; the pair sees the same drift).
BARE_SERVER = """
import asyncio, sys, tornado.web
class H(tornado.web.RequestHandler):
    def get(self): self.finish("ok")
async def main():
    tornado.web.Application([(r"/healthz", H)]).listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main())
"""


def startup(kube: SandboxKube, tmp: Path) -> None:
    """Start to the first 200 of `odh-core serve` with every installed plugin enabled."""
    all_cfg = write_config(tmp / "all.yaml", kube, plugin_autoload=True, plugins={})
    commands = {
        "odh": lambda port: [str(ROOT / ".venv/bin/odh-core"), "serve", "--config",
                             str(all_cfg), "--host", "127.0.0.1", "--port", str(port)],
        "bare": lambda port: [PYTHON, "-c", BARE_SERVER, str(port)],
    }
    # The image runs compiled bytecode (`pip install .` writes it); an editable install run
    # with PYTHONDONTWRITEBYTECODE=1 would compile every first-party module on every start.
    subprocess.run([PYTHON, "-m", "compileall", "-q", "odh_core", "plugins"], cwd=str(ROOT),
                   check=True, stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(STARTUP_RUNS):
        for name in (("odh", "bare") if i % 2 == 0 else ("bare", "odh")):
            port = free_port()
            start = time.perf_counter()
            with Child(commands[name](port), cwd=str(ROOT),
                       log=tmp / f"startup-{name}.log") as child:
                wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(cpu_seconds(child.pid))
    odh, bare = statistics.median(times["odh"]), statistics.median(times["bare"])
    report("startup_bare_tornado_s", bare, "s")
    report("startup_to_first_200_s", odh, "s", "<= 0.6")
    report("startup_vs_bare_tornado", odh / bare, "x")
    # CPU seconds to the first 200: what the start costs, whatever else shares the cores.
    report("startup_cpu_s", statistics.median(cpu["odh"]), "s")
    report("startup_bare_tornado_cpu_s", statistics.median(cpu["bare"]), "s")


def main() -> None:
    """`python -m bench.core` runs everything; `python -m bench.core startup` only that."""
    if sys.argv[1:] == ["startup"]:
        kube = SandboxKube().start()
        try:
            startup(kube, Path(tempfile.mkdtemp(prefix="odh-bench-")))
        finally:
            kube.stop()
        return
    kube = SandboxKube().start()
    tmp = Path(tempfile.mkdtemp(prefix="odh-bench-"))
    auth = {"Authorization": f"Bearer {kube.token('alice')}"}
    try:
        cfg = write_config(tmp / "odh.yaml", kube)
        odh_port, bare_port = free_port(), free_port()
        with Child([PYTHON, "-m", "bench.core_servers", str(cfg), str(odh_port), str(bare_port)],
                   cwd=str(ROOT), log=tmp / "servers.log") as servers:
            wait_http(f"http://127.0.0.1:{odh_port}/api/example/hello", headers=auth)
            wait_http(f"http://127.0.0.1:{bare_port}/api/example/hello", headers=auth)
            # Short runs, interleaved in pairs: on a shared host the speed of the machine
            # drifts by tens of percent over a minute, and a pair sees the same drift. The
            # ratio is the median of the pairs' ratios; CPU seconds per request (the server
            # process's own, from /proc) is the same comparison without wrk's share of the
            # two cores.
            pairs = []
            order = [("bare", bare_port), ("pipeline", odh_port)]
            for i in range(PAIRS):
                pair = {}
                # Alternating which side goes first: neither always runs second.
                for name, port in order if i % 2 == 0 else order[::-1]:
                    cpu = cpu_seconds(servers.pid)
                    run = wrk(f"http://127.0.0.1:{port}/api/example/hello", seconds=PAIR_SECONDS,
                              headers=auth)
                    run["cpu_us"] = (cpu_seconds(servers.pid) - cpu) / run["requests"] * 1e6
                    pair[name] = run
                pairs.append(pair)
            med = lambda values: statistics.median(values)  # noqa: E731
            report("bare_tornado_rps", med(p["bare"]["rps"] for p in pairs), "req/s")
            report("pipeline_rps", med(p["pipeline"]["rps"] for p in pairs), "req/s")
            report("pipeline_vs_bare_ratio",
                   med(p["pipeline"]["rps"] / p["bare"]["rps"] for p in pairs), "x", ">= 0.7")
            report("bare_cpu_per_request", med(p["bare"]["cpu_us"] for p in pairs), "us")
            report("pipeline_cpu_per_request", med(p["pipeline"]["cpu_us"] for p in pairs), "us")
            report("pipeline_vs_bare_cpu_ratio",
                   med(p["bare"]["cpu_us"] / p["pipeline"]["cpu_us"] for p in pairs), "x")
            report("pipeline_p50_ms", med(p["pipeline"]["p50_ms"] for p in pairs), "ms")
            report("pipeline_p99_ms", med(p["pipeline"]["p99_ms"] for p in pairs), "ms")

        # Both servers run side by side (idle when not measured) and are measured in
        # interleaved pairs, like the pipeline above: the machine's drift hits both alike.
        with contextlib.ExitStack() as stack:
            urls = {}
            for workers in (1, 2):
                port = free_port()
                stack.enter_context(Child(
                    [str(ROOT / ".venv/bin/odh-core"), "serve", "--config", str(cfg), "--host",
                     "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                    cwd=str(ROOT), log=tmp / f"workers{workers}.log"))
                urls[workers] = f"http://127.0.0.1:{port}/api/example/hello"
            for url in urls.values():
                wait_http(url, headers=auth)
                for _ in range(8):  # every worker caches the identity before measuring
                    wait_http(url, headers=auth)
            runs = [{w: wrk(urls[w], seconds=PAIR_SECONDS, connections=64, threads=1,
                            headers=auth)["rps"] for w in ((1, 2) if i % 2 == 0 else (2, 1))}
                    for i in range(PAIRS)]
        report("workers1_rps", statistics.median(r[1] for r in runs), "req/s")
        report("workers2_rps", statistics.median(r[2] for r in runs), "req/s")
        report("workers2_vs_workers1", statistics.median(r[2] / r[1] for r in runs), "x",
               ">= 1.7")

        startup(kube, tmp)
    finally:
        kube.stop()


if __name__ == "__main__":
    main()
