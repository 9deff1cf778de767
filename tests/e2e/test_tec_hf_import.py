"""ODH-TEC's "Import HF Model" in Chromium, against odh-core with ImportJobs (issue 17 (3)).

The stock UI opens /api/objects/import-model-progress before it starts the import and reads
`{}` as "all completed": the modal must show the import's files and say "Model imported" only
once they are in S3. The hub runs here (a slow file keeps the import going for seconds)."""
from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any, Callable, Iterator

import pytest

from .conftest import TEC_DIR, OdhProcess, PageWatch

MiB = 1024 * 1024
REPO = "e2e-org/slow-model"
BIG = "model.safetensors"
BIG_SIZE = 24 * MiB + 7


@pytest.fixture(scope="module")
def slow_hub() -> Iterator[Any]:
    from odh_sandbox.hub import SandboxHub, SizedFile

    hub = SandboxHub()
    hub.add_model(REPO, {"config.json": b'{"model_type": "e2e"}',
                         BIG: SizedFile(BIG_SIZE, seed=5)})
    hub.start_in_thread()
    hub.faults.slow(rf"{REPO}/{BIG}", bytes_per_second=6 * MiB, on="cdn")
    yield hub
    hub.stop_thread()


def _objects(proc: OdhProcess, bucket: str, prefix: str) -> dict[str, int]:
    b64 = base64.b64encode(prefix.encode()).decode()
    with urllib.request.urlopen(proc.url(f"/api/objects/{bucket}/{b64}"), timeout=10) as r:
        body = json.loads(r.read())
    return {o["Key"]: o["Size"] for o in body.get("objects") or []}


@pytest.mark.timeout(180)
def test_import_modal_follows_the_import_to_its_end(
        odh_process: Callable[..., OdhProcess], new_page: Callable[..., tuple[Any, PageWatch]],
        slow_hub: Any) -> None:
    proc = odh_process({"plugins": {"s3": {"static_dir": str(TEC_DIR)},
                                    "hf": {"endpoint": slow_hub.endpoint, "token": None}}},
                       dev=True)
    with urllib.request.urlopen(proc.url("/api/buckets"), timeout=10) as r:
        buckets = [b["Name"] for b in json.loads(r.read())["buckets"]]
    bucket = buckets[0]
    accept = urllib.request.Request(proc.url("/api/disclaimer"), method="PUT",
                                    data=json.dumps({"status": "accepted"}).encode(),
                                    headers={"Content-Type": "application/json"})
    urllib.request.urlopen(accept, timeout=10).close()  # the first-visit modal, done before
    page, watch = new_page()
    page.goto(proc.url(f"/objects/{bucket}"))
    page.locator("[data-ouia-component-id=ShowImportHFModal]").click()
    page.fill("#model-name", REPO)
    page.get_by_role("button", name="Import", exact=True).click()
    # The modal shows this import's files while they transfer...
    page.wait_for_selector(f"text={BIG}", timeout=30_000)
    assert _objects(proc, bucket, f"{REPO}/") .get(f"{REPO}/{BIG}") is None
    # ...and says "Model imported" only when they are in S3, whole.
    page.wait_for_selector("text=Model imported", timeout=90_000)
    landed = _objects(proc, bucket, f"{REPO}/")
    assert landed.get(f"{REPO}/{BIG}") == BIG_SIZE
    assert f"{REPO}/config.json" in landed
    assert not watch.page_errors
    assert watch.unexpected() == []
