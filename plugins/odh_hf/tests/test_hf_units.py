"""Pure pieces of the imports: part planning, resuming from status, the pod's env config,
which import an ODH-TEC progress stream follows."""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from odh_core import ApiError
from odh_hf import destination
from odh_hf.config import HfConfig
from odh_hf.executor import pod_env
from odh_hf.jobs import JobManager
from odh_hf.resource import Job, micro_time
from odh_hf.transfer import MiB, FileProgress, plan_part_size


def test_part_size_fits_ten_thousand_parts() -> None:
    assert plan_part_size(10 * MiB, 8 * MiB) == 8 * MiB
    assert plan_part_size(10 * MiB, 1 * MiB) == 5 * MiB  # S3's minimum
    big = 200 * 1024 * MiB
    size = plan_part_size(big, 8 * MiB)
    assert size % MiB == 0 and -(-big // size) <= 10_000 and size > 8 * MiB


def test_a_takeover_resumes_from_the_status() -> None:
    spec = {"path": "w.bin", "key": "p/o/m/w.bin", "size": 50 * MiB, "sha256": "ab" * 32}
    running = FileProgress.restore(spec, {"state": "uploading", "bytes": 33 * MiB,
                                          "uploadId": "u-1", "partSize": 8 * MiB, "parts": 3})
    # What the dead holder received past its completed parts does not count: parts do.
    assert (running.state, running.upload_id, running.parts, running.bytes) == \
        ("queued", "u-1", 3, 24 * MiB)
    done = FileProgress.restore(spec, {"state": "completed", "bytes": 50 * MiB})
    assert done.done and done.bytes == 50 * MiB
    fresh = FileProgress.restore(spec, None)
    assert (fresh.state, fresh.upload_id, fresh.parts) == ("queued", None, 0)
    assert set(running.status()) == {"state", "bytes", "sha256", "uploadId", "partSize",
                                     "parts", "attempts", "error"}


def test_the_pod_env_survives_yaml_scalars() -> None:
    """`ODH_*` values are read as YAML scalars (the pod's command itself runs from this env in
    test_hf_cluster.py): strings must stay strings ("off", "on"), numbers numbers."""
    cfg = HfConfig(endpoint="https://hub.example", no_proxy="on", part_size=16 * MiB,
                   verify_tls=False, lease_duration=20, ca_bundle="/etc/pki/hub-ca.pem")
    env = {e["name"]: yaml.safe_load(e["value"]) for e in pod_env(cfg, "odh-core-imports")}
    assert env["ODH_SANDBOX__MODE"] == "off" and env["ODH_PLUGIN_AUTOLOAD"] is False
    assert env["ODH_PLUGINS__HF__ENABLED"] is True
    assert env["ODH_PLUGINS__HF__JOBS_NAMESPACE"] == "odh-core-imports"
    assert env["ODH_PLUGINS__HF__ENDPOINT"] == "https://hub.example"
    assert env["ODH_PLUGINS__HF__NO_PROXY"] == "on"
    assert env["ODH_PLUGINS__HF__PART_SIZE"] == 16 * MiB
    assert env["ODH_PLUGINS__HF__VERIFY_TLS"] is False
    assert env["ODH_PLUGINS__HF__LEASE_DURATION"] == 20
    assert "ODH_PLUGINS__HF__CA_BUNDLE" not in env  # a replica's path: the Secret has the PEM


async def test_the_job_ca_bundles_become_private_files_for_the_run(tmp_path: Path) -> None:
    """The job Secret's PEM (not a replica's path: a Job pod has none of its files) is written
    to files only this process reads, removed when the run ends."""
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    creds = {destination.CA_BUNDLE: pem, destination.HUB_CA_BUNDLE: pem + pem,
             destination.ACCESS_KEY: "k"}
    async with destination.ca_files(creds) as paths:
        assert set(paths) == {destination.CA_BUNDLE, destination.HUB_CA_BUNDLE}
        for key, path in paths.items():
            assert Path(path).read_text() == creds[key]
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert not any(Path(p).exists() for p in paths.values())
    async with destination.ca_files({destination.ACCESS_KEY: "k"}) as none:
        assert none == {}
    # At job creation: the file's content, read off the event loop; a clear 503 otherwise.
    (tmp_path / "ca.pem").write_text(pem)
    assert await destination.read_pem(str(tmp_path / "ca.pem"), "ca") == pem
    for bad in ("missing.pem", "empty.pem"):
        (tmp_path / "empty.pem").write_text("")
        with pytest.raises(ApiError) as err:
            await destination.read_pem(str(tmp_path / bad), "plugins.hf.ca_bundle")
        assert err.value.status == 503 and "plugins.hf.ca_bundle" in err.value.message


def _job(owner: str, requested: float, phase: str = "Running",
         finished: float | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if finished is not None:
        status["completionTime"] = micro_time(finished)
    return {"metadata": {"name": f"hf-import-{int(requested * 1000):016x}"[-26:],
                         "resourceVersion": "1"},
            "spec": {"id": "0" * 16, "owner": owner, "requestedAt": micro_time(requested),
                     "files": []},
            "status": status}


def test_the_odh_tec_stream_follows_only_an_import_it_did_not_miss() -> None:
    now = time.time()
    objs = [_job("bob", now - 60, "Completed"), _job("alice", now + 0.5, "Pending")]
    watch = SimpleNamespace(jobs=lambda: [Job.from_object(o) for o in objs])
    pick = JobManager.compat_candidate
    fake = SimpleNamespace(watch=watch)
    # bob's finished import from before the stream: never; nothing yet (not `{}`).
    assert pick(fake, "bob", now) is None  # type: ignore[arg-type]
    assert pick(fake, "bob", now - 10) is None  # type: ignore[arg-type]
    # alice's import requested after she opened the stream: that one.
    assert pick(fake, "alice", now).owner == "alice"  # type: ignore[arg-type,union-attr]
    # ... and one whose request beat the stream's by a moment (the browser fires both at once),
    # even though it already finished.
    objs.append(_job("carol", now - 0.2, "Completed", finished=now + 0.5))
    assert pick(fake, "carol", now).owner == "carol"  # type: ignore[arg-type,union-attr]
    # ... but not one that had already finished when the stream opened.
    objs.append(_job("dave", now - 2, "Completed", finished=now - 1))
    assert pick(fake, "dave", now) is None  # type: ignore[arg-type]
    # a still-running import of the caller, once no newer one came within the settle time
    objs.append(_job("bob", now - 30, "Running"))
    assert pick(fake, "bob", now, settle=60) is None  # type: ignore[arg-type]
    assert pick(fake, "bob", now - 5, settle=1).requested == \
        Job.from_object(objs[-1]).requested  # type: ignore[arg-type,union-attr]
