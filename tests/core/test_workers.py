"""`serve --workers 2`: two processes on one port, both serving; SIGTERM stops them all."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_share_the_port_and_stop_on_sigterm(tmp_path):
    cfg = tmp_path / "odh.yaml"
    cfg.write_text("sandbox: {mode: 'off'}\nplugin_autoload: false\n"
                   "logging: {format: json, access_log: true}\n")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "odh_core", "serve", "--config", str(cfg),
                                 "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                                stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count("odh-core serving on") < 2:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
        for _ in range(200):  # a new connection each: the kernel spreads them (SO_REUSEPORT)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                assert r.status == 200
        records = [json.loads(ln) for ln in log.read_text().splitlines() if ln.startswith("{")]
        workers = {r["pid"] for r in records if r["msg"].startswith("odh-core serving on")}
        served_by = {r["pid"] for r in records if r["logger"] == "odh.access"}
        assert len(workers) == 2 and served_by == workers
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
        with socket.socket() as s:  # no worker listens any more: the port can be bound
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
