"""Load-and-fault suite: odh-core under a mixed workload while its dependencies misbehave.

    make soak                     # 180 s
    SOAK_SECONDS=60 .venv/bin/python -m bench.soak

Everything on loopback. This process hosts the sandbox API server (a thread, so its
`faults` can be driven) and the sandbox hub (a thread, `faults.drop_after`); moto's S3 runs
as its own process (SandboxS3 mode="process") so it can really be restarted; odh-core runs
as `odh-core serve` in a child process (plugins k8s, watch, s3, hf; token auth) whose RSS
is sampled.

Workload: k8s proxy readers, WebSocket watch subscribers (changes made on the API server
directly, every one of which each subscriber must see), S3 uploads + downloads verified by
sha256 (some uploads deliberately cut by the client), repeated HF imports verified by
sha256. Faults, in rotation: injected API-server errors on the reads, cut watch streams,
S3 restarts, hub connection drops mid-file, and replica kills: a second `odh-core serve`
(same config) shares the imports (ImportJobs, whichever replica holds the Lease runs one) and
is SIGKILLed or SIGTERMed in turn, then started again; imports it was running are finished by
the first replica (byte-exact, no multipart upload left open).

Exit status 1 when a must-be-zero figure is not zero: lost watch events, leaked multipart
uploads, corrupted objects.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import ssl
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import PYTHON, ROOT, Child, free_port, report, rss_bytes, wait_http
from bench.soak_work import (MiB, Mutator, Subscriber, Tally, hf_importer, k8s_reader,
                             s3_worker, subscriber)

BUCKET = "soak"
REPO = "soak-org/small-model"
HF_FILES = {"config.json": b'{"model_type": "soak"}', "model.safetensors": None}
LEASE_S = 3.0


class SecondReplica:
    """Another `odh-core serve` on the same config: killed and restarted by the faults."""

    def __init__(self, cfg: Path, tmp: Path):
        self.cfg, self.tmp = cfg, tmp
        self.port = free_port()
        self.child: Child | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.child = Child([str(Path(PYTHON).parent / "odh-core"), "serve", "--config",
                            str(self.cfg), "--port", str(self.port)], cwd=str(ROOT),
                           log=self.tmp / f"odh-replica-{self.starts}.log")
        wait_http(f"http://127.0.0.1:{self.port}/healthz", timeout=60)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.child is not None and self.child.proc.poll() is None:
            os.kill(self.child.pid, sig)
            self.child.proc.wait(30)
        if self.child is not None:
            self.child.stop()  # closes its log

    def errors(self) -> list[str]:
        lines = []
        for path in sorted(self.tmp.glob("odh-replica-*.log")):
            lines += [ln for ln in path.read_text(errors="replace").splitlines()
                      if '"ERROR"' in ln or "Traceback" in ln]
        return lines


def odh_config(port: int, kube: Any, s3: Any, hub_url: str, tmp: str) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": port, "grace_period": 2},
        "logging": {"level": "WARNING", "access_log": False},
        "auth": {"mode": "token"},
        "audit": {"enabled": False},
        "kubernetes": {"host": kube.https_url, "ca_file": kube.ca_file,
                       "token": kube.token("odh-core")},
        "sandbox": {"mode": "off", "state_dir": tmp},
        "plugin_autoload": False,
        "plugins": {
            "k8s": {"enabled": True},
            "watch": {"enabled": True, "mode": "per-user"},
            "s3": {"enabled": True, "endpoint": s3.endpoint, "access_key_id": s3.access_key,
                   "secret_access_key": s3.secret_key, "default_bucket": BUCKET,
                   "state_dir": tmp, "settings_store": "file",
                   "http_proxy": "", "https_proxy": "", "no_proxy": ""},
            "hf": {"enabled": True, "endpoint": hub_url, "token": None, "retries": 8,
                   "backoff": 0.2, "settings_store": "file", "state_dir": tmp,
                   "http_proxy": "", "https_proxy": "", "no_proxy": "",
                   "lease_duration": LEASE_S},
        },
    }


def slope_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope (MiB per minute) of RSS over the second half of the samples."""
    half = samples[len(samples) // 2:]
    if len(half) < 2:
        return 0.0
    xs = [t for t, _ in half]
    ys = [r / MiB for _, r in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 60


class Faults:
    """The fault rotation, one every `period` seconds."""

    def __init__(self, kube: Any, s3: Any, hub: Any, tally: Tally, seconds: float,
                 replica: SecondReplica):
        self.kube, self.s3, self.hub, self.tally = kube, s3, hub, tally
        self.seconds = seconds
        self.replica = replica
        self.count: dict[str, int] = {"kube_errors": 0, "watch_cuts": 0, "s3_restarts": 0,
                                      "hub_drops_armed": 0, "replica_sigkills": 0,
                                      "replica_sigterms": 0}

    def arm_hub_drop(self) -> None:
        self.hub.faults.drop_after(r"model\.safetensors", 3 * MiB, times=1)
        self.count["hub_drops_armed"] += 1

    async def run(self, stop: asyncio.Event, t0: float) -> None:
        period = max(3.0, self.seconds / 12)
        n = 0
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), period)
                return
            except asyncio.TimeoutError:
                pass
            n += 1
            kind = ("kube", "watch", "s3", "replica", "kube", "watch", "replica")[n % 7]
            # No S3 restart in the last 40 %: the end of the run must settle before the
            # leak check, and the last uploads must have a live server.
            if kind == "s3" and time.monotonic() - t0 > 0.6 * self.seconds:
                kind = "watch"
            if kind == "kube":
                self.kube.faults.add_error(503, method="GET",
                                           path_regex=r"^/api/v1/namespaces/alice-project",
                                           times=25)
                self.count["kube_errors"] += 1
            elif kind == "watch":
                self.kube.faults.cut_watches(r"configmaps")
                self.count["watch_cuts"] += 1
            elif kind == "replica":
                kill = self.count["replica_sigkills"] <= self.count["replica_sigterms"]
                await asyncio.to_thread(self.replica.stop,
                                        signal.SIGKILL if kill else signal.SIGTERM)
                self.count["replica_sigkills" if kill else "replica_sigterms"] += 1
                await asyncio.to_thread(self.replica.start)
            else:
                entry = (time.monotonic(), 0.0)
                self.tally.s3_restarts.append(entry)
                await asyncio.to_thread(self.s3.restart)
                self.tally.s3_restarts[-1] = (entry[0], time.monotonic())
                self.count["s3_restarts"] += 1


async def soak(seconds: float, kube: Any, s3: Any, hub: Any, hub_url: str, base: str,
               pid: int, hf_files: dict[str, str], replica: SecondReplica) -> int:
    tally = Tally()
    label = uuid.uuid4().hex[:8]
    ws_base = base.replace("http://", "ws://")
    alice, admin = kube.token("alice"), kube.token("admin")
    ctx = ssl.create_default_context(cafile=kube.ca_file)
    stop = asyncio.Event()
    faults = Faults(kube, s3, hub, tally, seconds, replica)
    rss: list[tuple[float, int]] = []
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout) as http, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as api:
        mutator = Mutator(api, kube.https_url, alice, label)
        subs = [Subscriber() for _ in range(4)]
        readies = [asyncio.Event() for _ in subs]
        sub_tasks = [asyncio.create_task(subscriber(http, ws_base, alice, label, s, tally,
                                                    stop, r)) for s, r in zip(subs, readies)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
        # A sentinel every subscriber must see proves the upstream watches are open.
        first = await mutator.create(f"soak-{label}-start")
        await until(lambda: all(("ADDED", first, "0") in s.seen for s in subs), 30)

        t0 = time.monotonic()
        workers = [asyncio.create_task(k8s_reader(http, base, alice, tally, stop, label))
                   for _ in range(3)]
        workers += [asyncio.create_task(s3_worker(http, base, admin, BUCKET, tally, stop, i,
                                                  max_mib=20)) for i in range(2)]
        workers.append(asyncio.create_task(hf_importer(http, base, admin, BUCKET, REPO,
                                                       hf_files, tally, stop,
                                                       faults.arm_hub_drop)))
        workers.append(asyncio.create_task(mutator.run(stop, 0.1)))
        fault_task = asyncio.create_task(faults.run(stop, t0))

        next_print = 0.0
        while (elapsed := time.monotonic() - t0) < seconds:
            rss.append((elapsed, rss_bytes(pid)))
            if elapsed >= next_print:
                print(f"  t={elapsed:5.0f}s rss={rss[-1][1] / MiB:6.1f} MiB "
                      f"requests={sum(tally.by_kind.values())} "
                      f"errors={dict((k, v) for k, v in tally.outcomes.items() if k != 'ok')}",
                      flush=True)
                next_print += max(10.0, seconds / 12)
            await asyncio.sleep(min(2.0, max(0.1, seconds - elapsed)))
        stop.set()
        # Workers finish their current operation (an HF import may take a while).
        await asyncio.wait_for(asyncio.gather(*workers, fault_task, return_exceptions=True),
                               180)
        kube.faults.clear()
        hub.faults.clear()
        # Every change made must reach every subscriber: a last sentinel marks the end.
        stop_subs = asyncio.Event()
        last = await mutator.create(f"soak-{label}-end")
        try:
            await until(lambda: all(("ADDED", last, "0") in s.seen for s in subs), 30)
        except TimeoutError:
            pass
        stop_subs.set()
        for t in sub_tasks:
            t.cancel()
        await asyncio.gather(*sub_tasks, return_exceptions=True)
        lost = [sorted(mutator.expected - s.seen) for s in subs]
        # Leak check: every transfer has ended; aborts are asynchronous, so poll a while.
        deadline = time.monotonic() + 20
        while True:
            leaked = await asyncio.to_thread(s3.open_multipart_uploads, BUCKET)
            if not leaked or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        await cleanup(api, kube, label)

    total = sum(tally.by_kind.values())
    served = tally.outcomes["ok"]
    lost_total = sum(len(x) for x in lost)
    print("\nRSS of the odh-core process (MiB), samples:")
    step = max(1, len(rss) // 12)
    print("  " + "  ".join(f"{t:.0f}s:{r / MiB:.1f}" for t, r in rss[::step]))
    faults.count["hub_drops_happened"] = len(hub.drops)
    print(f"faults injected: {faults.count}")
    print(f"requests by kind: {dict(tally.by_kind)}")
    if tally.samples:
        print("unexpected error samples:")
        for s in tally.samples:
            print(f"  {s}")
    if lost_total:
        print(f"lost watch events (first few): {[x[:5] for x in lost]}")
    if tally.corrupted:
        print(f"corrupted: {tally.corrupted[:10]}")
    if leaked:
        print(f"leaked uploads: {[(u['Key'], u['UploadId']) for u in leaked[:10]]}")
    print()
    report("soak_seconds", seconds, "s")
    report("soak_requests_total", total, "requests")
    report("soak_requests_served_ok", served, "requests")
    report("soak_requests_per_second", total / seconds, "req/s")
    for cause in ("kube_injected", "s3_restart", "s3_data_lost_on_restart", "client_abort",
                  "unexpected"):
        report(f"soak_error_rate_{cause}", 100 * tally.outcomes[cause] / max(total, 1), "%",
               "== 0" if cause == "unexpected" else "")
    report("soak_watch_changes_made", len(mutator.expected), "events")
    report("soak_watch_subscribers", len(subs), "sockets")
    report("soak_watch_reconnects", tally.watch_reconnects, "reconnects")
    report("soak_lost_watch_events", lost_total, "events", "== 0")
    report("soak_hf_imports_completed", tally.hf_imports["completed"], "imports")
    report("soak_hf_imports_failed", tally.hf_imports["failed"], "imports")
    report("soak_replica_kills", faults.count["replica_sigkills"]
           + faults.count["replica_sigterms"], "kills")
    report("soak_hf_imports_taken_over", tally.hf_takeovers, "takeovers")
    report("soak_leaked_multipart_uploads", len(leaked), "uploads", "== 0")
    report("soak_corrupted_objects", len(tally.corrupted), "objects", "== 0")
    report("soak_rss_start_mib", rss[0][1] / MiB, "MiB")
    report("soak_rss_end_mib", rss[-1][1] / MiB, "MiB")
    report("soak_rss_max_mib", max(r for _, r in rss) / MiB, "MiB")
    report("soak_rss_slope_second_half", slope_per_min(rss), "MiB/min", "< 2")
    return 1 if (lost_total or leaked or tally.corrupted) else 0


async def until(pred: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met before the deadline")
        await asyncio.sleep(0.05)


async def cleanup(api: aiohttp.ClientSession, kube: Any, label: str) -> None:
    """Remove this run's ConfigMaps (the API server lives only as long as this process,
    but a shared one would not)."""
    url = (f"{kube.https_url}/api/v1/namespaces/alice-project/configmaps"
           f"?labelSelector=soak%3D{label}")
    async with api.delete(url, headers={"Authorization": f"Bearer {kube.token('alice')}"}) as r:
        await r.read()


def main() -> int:
    seconds = float(os.environ.get("SOAK_SECONDS", "180"))
    from odh_sandbox.hub import SandboxHub, SizedFile
    from odh_sandbox.kube import SandboxKube
    from odh_sandbox.s3 import SandboxS3

    model = {"config.json": HF_FILES["config.json"],
             "model.safetensors": SizedFile(40 * MiB, seed=7)}
    hub = SandboxHub()
    hub.add_model(REPO, model)
    hub.start_in_thread()
    # Imports last a few seconds, so that replica kills land mid-file.
    hub.faults.slow(r"model\.safetensors", bytes_per_second=16 * MiB, on="cdn")
    hub_url = f"http://127.0.0.1:{hub.port}"
    # The hub's bytes, hashed without odh-core: what every import must reproduce.
    hf_files: dict[str, str] = {}
    for path in model:
        import urllib.request
        h = hashlib.sha256()
        with urllib.request.urlopen(f"{hub_url}/{REPO}/resolve/main/{path}", timeout=60) as r:
            while chunk := r.read(MiB):
                h.update(chunk)
        hf_files[path] = h.hexdigest()

    port = free_port()
    with SandboxKube() as kube, SandboxS3(mode="process", default_bucket=BUCKET) as s3, \
            tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "odh.yaml"
        cfg.write_text(json.dumps(odh_config(port, kube, s3, hub_url, tmp)))
        replica = SecondReplica(cfg, Path(tmp))
        with Child([str(Path(PYTHON).parent / "odh-core"), "serve", "--config", str(cfg)],
                   cwd=str(ROOT), log=Path(tmp) / "odh.log") as odh:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/healthz", timeout=60)
            replica.start()
            print(f"soak: {seconds:.0f} s against odh-core pid {odh.pid} at {base} (second "
                  f"replica on port {replica.port})", flush=True)
            try:
                rc = asyncio.run(soak(seconds, kube, s3, hub, hub_url, base, odh.pid, hf_files,
                                      replica))
            finally:
                replica.stop()
                replica_errors = replica.errors()
                print(f"second replica: {replica.starts} starts, {len(replica_errors)} error "
                      "lines")
                for ln in replica_errors[:5]:
                    print(f"  {ln[:300]}")
                log = (Path(tmp) / "odh.log").read_text(errors="replace").splitlines()
                errors = [ln for ln in log if '"ERROR"' in ln or "Traceback" in ln]
                print(f"odh-core log: {len(log)} lines, {len(errors)} error lines")
                for ln in errors[:5]:
                    print(f"  {ln[:300]}")
    hub.stop_thread()
    return rc


if __name__ == "__main__":
    sys.exit(main())
