"""Ray job logs (issue 13, COMPAT.md §3 "Ray") against the sandbox: the job's lines of the head
pod's log as the user, other users refused by the API server, bad ids and names 400, a missing
pod 404."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

POD = ("alice-project", "raycluster-demo-head", "ray-head")


@pytest.fixture
def job_ids(sandbox_kube: Any) -> tuple[str, str]:
    one = f"raysubmit_{uuid.uuid4().hex[:10]}"
    other = one + "X"  # shares a prefix: must not match
    for line in (f"INFO job_manager.py: Submitting job with submission_id={one}",
                 "INFO unrelated head line",
                 f"[{other}] driver of another job",
                 f"{one} -- hello from the driver",
                 f"Job '{one}' succeeded"):
        sandbox_kube.append_log(*POD, line)
    return one, other


async def test_job_lines_as_the_user(odh_server: Any, job_ids: tuple[str, str]) -> None:
    one, other = job_ids
    base = "/api/ray-job-logs/{}/{}/{}/{}"
    resp = await odh_server.fetch(base.format(*POD, one), user="alice")
    assert resp.status == 200, resp.body
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text.splitlines() == [
        f"INFO job_manager.py: Submitting job with submission_id={one}",
        f"{one} -- hello from the driver", f"Job '{one}' succeeded"]
    resp = await odh_server.fetch(base.format(*POD, other), user="alice")
    assert resp.text == f"[{other}] driver of another job\n"
    assert (await odh_server.fetch(base.format(*POD, "raysubmit_none"), user="alice")).text == ""
    # bob may not read pods in alice's project: the API server's 403, as JSON.
    denied = await odh_server.fetch(base.format(*POD, one), user="bob")
    assert denied.status == 403 and one.encode() not in denied.body
    assert (await odh_server.fetch(base.format(*POD, one))).status == 401


@pytest.mark.parametrize("path", [
    "alice-project/raycluster-demo-head/ray-head/raysubmit.1",
    "alice-project/raycluster-demo-head/ray-head/" + "a" * 65,
    "alice-project/raycluster-demo-head/ray-head/%2e%2e",
    "Alice_Project/raycluster-demo-head/ray-head/job1",
    "alice-project/Bad_Pod/ray-head/job1",
    "alice-project/raycluster-demo-head/ray..head/job1",
])
async def test_bad_pieces(odh_server: Any, sandbox_kube: Any, path: str) -> None:
    before = len(sandbox_kube.requests)
    resp = await odh_server.fetch("/api/ray-job-logs/" + path, user="alice")
    assert resp.status == 400, (path, resp.body)
    assert "message" in resp.json()
    assert not any("/log" in str(r) for r in list(sandbox_kube.requests)[before:])


async def test_missing_pod(odh_server: Any) -> None:
    resp = await odh_server.fetch("/api/ray-job-logs/alice-project/no-such-pod/ray-head/job1",
                                  user="alice")
    assert resp.status == 404 and "message" in resp.json()
