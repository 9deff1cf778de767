"""Serving a frontend build (issue 17): odh-core's `Frontend` (StaticFileHandler, gzip made once
per file, off the event loop) against the baseline the issue weighed, Tornado's StaticFileHandler
with `compress_response=True` (gzip on the fly, on the event loop, per response), in one run.

    .venv/bin/python -m bench.frontend

Needs wrk. Both serve the same build (ODH-TEC's from ../shared/frontends when present, else a
generated 1.5 MB bundle) and are asked for its largest script with `Accept-Encoding: gzip`,
as a browser's cold load does. Each server runs in a child process on loopback.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from .common import PYTHON, ROOT, Child, free_port, report, wait_http, wrk

RUNS, SECONDS = 3, 3
GZIP = {"Accept-Encoding": "gzip"}
BASELINE = """
import sys, asyncio, tornado.web
async def main():
    app = tornado.web.Application([(r"/(.*)", tornado.web.StaticFileHandler,
                                    {"path": sys.argv[1]})], compress_response=True)
    app.listen(int(sys.argv[2]), "127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main())
"""


def build_dir(tmp: Path) -> Path:
    tec = ROOT.parent / "shared" / "frontends" / "odh-tec"
    if (tec / "main.bundle.js").is_file():
        return tec
    root = tmp / "build"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><script src='/main.bundle.js'></script>")
    line = "function f{0}(a){{return a.map(x=>x*{0}).filter(Boolean)}}\n"
    (root / "main.bundle.js").write_text("".join(line.format(i) for i in range(25_000)))
    return root


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="odh-bench-frontend-"))
    root = build_dir(tmp)
    asset = max((p for p in root.iterdir() if p.suffix == ".js"), key=lambda p: p.stat().st_size)
    cfg = tmp / "odh.yaml"
    cfg.write_text(yaml.safe_dump({"sandbox": {"mode": "off"}, "plugin_autoload": False,
                                   "logging": {"access_log": False},
                                   "plugins": {"s3": {"enabled": True, "static_dir": str(root)}}}))
    oport, bport = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODH_"))}
    with Child([PYTHON, "-m", "odh_core", "serve", "--config", str(cfg), "--host", "127.0.0.1",
                "--port", str(oport)], cwd=str(ROOT), env=env, log=tmp / "odh.log"), \
            Child([PYTHON, "-c", BASELINE, str(root), str(bport)], log=tmp / "baseline.log"):
        ours = f"http://127.0.0.1:{oport}/{asset.name}"
        base = f"http://127.0.0.1:{bport}/{asset.name}"
        wait_http(ours, headers=GZIP)  # the first request makes the gzip bytes
        wait_http(base, headers=GZIP)
        via, baseline = [], []
        for _ in range(RUNS):  # interleaved, so drift hits both alike
            baseline.append(wrk(base, seconds=SECONDS, headers=GZIP))
            via.append(wrk(ours, seconds=SECONDS, headers=GZIP))
        med = lambda rs, k: sorted(r[k] for r in rs)[len(rs) // 2]  # noqa: E731
        report("frontend_asset_gzip_once_rps", med(via, "rps"), "req/s")
        report("frontend_asset_gzip_on_the_fly_rps", med(baseline, "rps"), "req/s")
        report("frontend_asset_rps_ratio", med(via, "rps") / med(baseline, "rps"), "x",
               ">= 5 (gzip once vs per response)")
        report("frontend_asset_p99_ms", med(via, "p99_ms"), "ms")
        report("frontend_asset_on_the_fly_p99_ms", med(baseline, "p99_ms"), "ms")


if __name__ == "__main__":
    main()
