"""Shared benchmark helpers: ports, child servers, wrk, RSS sampling, the output line format.

Every figure is printed as one line `name: value unit (target OP value)` so runs compare at a
glance; timings are medians of repeated runs, and each comparison's baseline is measured in
the same run.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Sequence

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def report(name: str, value: float, unit: str, target: str = "") -> None:
    shown = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    print(f"{name}: {shown} {unit}" + (f" (target {target})" if target else ""), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_odh_config(path: Path, kube_host: str, token: str, plugins: dict[str, Any], *,
                     ca_file: str | os.PathLike | None = None, **extra: Any) -> Path:
    """The config a benchmark starts odh-core with: one cluster (the sandbox), no embedded
    parts, only `plugins` (each enabled), quiet logs unless `extra` says otherwise."""
    kube: dict[str, Any] = {"host": kube_host, "token": token}
    if ca_file is not None:
        kube["ca_file"] = str(ca_file)
    elif kube_host.startswith("http://"):
        kube["allow_plain_http"] = True
    cfg = {"kubernetes": kube, "sandbox": {"mode": "off"}, "plugin_autoload": False,
           "logging": {"access_log": False, "level": "WARNING"},
           "plugins": {name: {"enabled": True, **conf} for name, conf in plugins.items()},
           **extra}
    path.write_text(yaml.safe_dump(cfg))
    return path


def wait_http(url: str, timeout: float = 30.0, headers: dict | None = None) -> float:
    """Poll until `url` answers 200; return the seconds it took."""
    start = time.perf_counter()
    while True:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=1) as resp:
                if resp.status == 200:
                    return time.perf_counter() - start
        except OSError:
            pass
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"{url} did not answer 200 within {timeout}s")
        time.sleep(0.01)


class Child:
    """A server in a child process, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, args: Sequence[str], env: dict | None = None, cwd: str | None = None,
                 log: str | os.PathLike | None = None):
        # Output goes to a file (or nowhere): an unread pipe would stall a chatty server.
        self.log = open(log, "wb") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(list(args), env={**os.environ, **(env or {})}, cwd=cwd,
                                     stdout=self.log, stderr=self.log, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (and none of its children)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system (kernel) CPU seconds a process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


class RssSampler:
    """Samples a process's RSS every few ms in a thread; `.peak` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.005):
        self.pid, self.interval = pid, interval
        self.peak = self.start = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start


def wrk(url: str, *, seconds: float = 5, connections: int = 32, threads: int = 1,
        headers: dict | None = None) -> dict[str, float]:
    """Run wrk (Debian package `wrk`); returns requests/s, requests, p50/p99 latency in ms."""
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    args = [exe, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"\s(50|99)%\s+([\d.]+\w+)", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} error responses from {url}")
    return {"rps": rps, "requests": total, "p50_ms": lat.get("50", 0.0),
            "p99_ms": lat.get("99", 0.0)}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


class SandboxChild:
    """`odh-core sandbox` in a child process (its CPU and memory are not the measured
    server's): plain and TLS URLs, the CA file and every seed user's token."""

    def __init__(self, tmp: Path):
        import base64

        self.port, self.https_port = free_port(), free_port()
        kubeconfig = tmp / "kubeconfig"
        self.child = Child([PYTHON, "-m", "odh_core", "sandbox", "--port", str(self.port),
                            "--https-port", str(self.https_port), "--state-dir",
                            str(tmp / "state"), "--kubeconfig-out", str(kubeconfig)],
                           cwd=str(ROOT), log=tmp / "sandbox.log")
        try:
            wait_http(f"http://127.0.0.1:{self.port}/version")
            deadline = time.monotonic() + 30
            while not kubeconfig.exists():  # written right after the sockets are bound
                if time.monotonic() > deadline:
                    raise TimeoutError("the sandbox wrote no kubeconfig")
                time.sleep(0.05)
            kc = yaml.safe_load(kubeconfig.read_text())
        except BaseException:
            self.child.stop()
            raise
        self.tokens = {u["name"]: u["user"]["token"] for u in kc["users"]}
        self.ca_file = tmp / "ca.crt"
        self.ca_file.write_bytes(base64.b64decode(
            kc["clusters"][0]["cluster"]["certificate-authority-data"]))
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.https_url = f"https://127.0.0.1:{self.https_port}"

    @property
    def service_account_token(self) -> str:
        return self.tokens.get("odh-core", self.tokens["admin"])

    def stop(self) -> None:
        self.child.stop()

    def __enter__(self) -> "SandboxChild":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
