"""`odh-core serve --reload` restarts after a change to its config file."""
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def greeting(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        return r.status


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_reload_restarts_after_config_change(tmp_path):
    cfg = tmp_path / "odh.yaml"
    cfg.write_text("sandbox: {mode: 'off'}\nplugin_autoload: false\nlogging: {format: text}\n")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "odh_core", "serve", "--reload",
                                 "--config", str(cfg), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=out, stderr=out)
    try:
        starts = lambda: log.read_text().count("odh-core serving on")  # noqa: E731
        assert wait_for(lambda: starts() == 1), log.read_text()
        cfg.write_text(cfg.read_text() + "server: {grace_period: 3}\n")
        assert wait_for(lambda: starts() == 2), log.read_text()

        def healthy():
            try:
                return greeting(port) == 200
            except OSError:
                return False

        assert wait_for(healthy)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
