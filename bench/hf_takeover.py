"""bench.hf's replica figures: ImportJob status writes per job-second, and what a SIGKILL of
the replica running an import costs (run from bench.hf's main; no `main` of its own).

Processes: `odh-core sandbox` (the API server), the sandbox hub (bench.hf --serve-hub), moto
(process mode) and two `odh-core serve` replicas (s3 + hf plugins) sharing them.

Figures:
- hf_status_writes_per_job_second: ImportJob status writes sent by both replicas (their
  `odh_hf_status_writes_total`) divided by the job's duration (target <= 1)
- hf_resume_redownload_mib: bytes received from the hub by the killed replica (scraped just
  before the SIGKILL) plus the survivor's, minus the model's size: what the kill cost in
  re-downloads (target: at most 3 parts per file in flight, 48 MiB with 8 MiB parts)
- hf_resume_takeover_s: seconds from the SIGKILL until the survivor holds the job (target
  about plugins.hf.lease_duration plus a renew period)
"""
from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, Child, SandboxChild, free_port, report, wait_http, \
    write_odh_config

MiB = 1024 * 1024
LEASE_S = 3.0


class Replica:
    def __init__(self, cfg: Path, tmp: Path, index: int, token: str):
        self.port = free_port()
        self.token = token
        self.child = Child([str(Path(PYTHON).parent / "odh-core"), "serve", "--config",
                            str(cfg), "--port", str(self.port), "--host", "127.0.0.1"],
                           cwd=str(ROOT), log=tmp / f"replica-{index}.log")
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(f"{self.base}/readyz", timeout=60)

    def call(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"{self.base}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        found = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0


def _wait_job(rep: Replica, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = rep.call(f"/api/hf/imports/{job_id}")["data"]
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise TimeoutError(f"import {job_id} did not end")


def measure(hub_url: str, s3: Any, repo: str, files: list[str], size: int) -> None:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        with SandboxChild(tmp) as kube:
            cfg = write_odh_config(
                tmp / "odh.yaml", kube.https_url, kube.service_account_token,
                {"s3": {"endpoint": s3.endpoint, "access_key_id": s3.access_key,
                        "secret_access_key": s3.secret_key, "default_bucket": "bench",
                        "max_concurrent_transfers": 2, "state_dir": str(tmp),
                        "http_proxy": "", "https_proxy": "", "no_proxy": ""},
                 "hf": {"endpoint": hub_url, "token": None, "settings_store": "file",
                        "state_dir": str(tmp), "http_proxy": "", "https_proxy": "",
                        "no_proxy": "", "lease_duration": LEASE_S}},
                ca_file=kube.ca_file)
            reps = [Replica(cfg, tmp, i, kube.tokens["alice"]) for i in range(2)]
            try:
                _writes(reps, repo, files)
                _kill(reps, repo, files, size)
            finally:
                for r in reps:
                    r.child.stop()


def _writes(reps: list[Replica], repo: str, files: list[str]) -> None:
    before = sum(r.metric("odh_hf_status_writes_total") for r in reps)
    started = time.monotonic()
    job = reps[0].call("/api/hf/imports", "POST", {"repo": repo, "bucket": "bench",
                                                   "prefix": "writes/", "include": files})
    final = _wait_job(reps[1], job["data"]["id"])
    took = time.monotonic() - started
    assert final["status"] == "completed", final
    writes = sum(r.metric("odh_hf_status_writes_total") for r in reps) - before
    report("hf_status_writes_per_job_second", writes / took, "writes/s", "<= 1")


def _kill(reps: list[Replica], repo: str, files: list[str], size: int) -> None:
    at_start = {r.port: r.metric("odh_hf_downloaded_bytes_total") for r in reps}
    job = reps[0].call("/api/hf/imports", "POST", {"repo": repo, "bucket": "bench",
                                                   "prefix": "kill/", "include": files})
    job_id = job["data"]["id"]
    victim = None
    while victim is None:
        live = reps[1].call(f"/api/hf/imports/{job_id}")["data"]
        if live["totals"]["loaded"] >= 0.4 * size and live["holder"]:
            victim = next((r for r in reps if f"-{r.child.pid}-" in live["holder"]), None)
        if live["status"] == "completed":
            raise RuntimeError("the import ended before the kill: use a larger --size-mib")
        time.sleep(0.05)
    survivor = reps[1] if victim is reps[0] else reps[0]
    victim_bytes = victim.metric("odh_hf_downloaded_bytes_total") - at_start[victim.port]
    os.kill(victim.child.pid, signal.SIGKILL)
    killed = time.monotonic()
    taken = None
    while True:
        live = survivor.call(f"/api/hf/imports/{job_id}")["data"]
        if taken is None and live["holder"] and f"-{survivor.child.pid}-" in live["holder"]:
            taken = time.monotonic() - killed
        if live["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.05)
    assert live["status"] == "completed", live
    survivor_bytes = survivor.metric("odh_hf_downloaded_bytes_total") - at_start[survivor.port]
    report("hf_resume_redownload_mib", (victim_bytes + survivor_bytes - size) / MiB, "MiB",
           "<= 48")
    report("hf_resume_takeover_s", taken if taken is not None else float("nan"), "s",
           f"~ {LEASE_S + LEASE_S / 3:.0f}")
