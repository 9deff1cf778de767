"""Issue 19 in the browser: alice runs the stock ODH-TEC UI on her own project's S3 connection.

odh-core serves ODH-TEC without dev auth; the page sends alice's token with every request.
The sandbox seeds alice-project/alice-models (bucket alice-models) and bob-project/bob-data;
alice is no admin, so the shared S3 is not hers.
"""
from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any, Callable

import pytest

from .conftest import TEC_DIR, OdhProcess, PageWatch

ALICE = {"Authorization": "Bearer sandbox-alice-token"}
SOURCE = "conn:alice-project/alice-models"


def api(proc: OdhProcess, path: str, token: str) -> Any:
    req = urllib.request.Request(proc.url(path), headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.timeout(180)
def test_alice_on_her_connection(odh_process: Callable[..., OdhProcess],
                                 new_page: Callable[..., tuple[Any, PageWatch]]) -> None:
    proc = odh_process({"plugins": {"s3": {"static_dir": str(TEC_DIR)}}})
    page, watch = new_page(extra_http_headers=ALICE)

    # No source yet: the bucket list is refused with the 403 that says what to do.
    with page.expect_response(lambda r: r.url.endswith("/api/buckets")) as refused:
        page.goto(proc.url("/buckets"))
    assert refused.value.status == 403
    assert refused.value.json()["error"] == "NoS3Source"
    accept = page.get_by_role("button", name="Accept")
    if accept.count():
        accept.first.click()  # the disclaimer, answered for alice only
    assert api(proc, "/api/disclaimer", "sandbox-bob-token")["disclaimer"]["status"] == "unknown"

    # She picks her connection (the stock UI has no picker: the new route does it).
    picked = page.request.put(proc.url("/api/s3/source"), data={"source": SOURCE})
    assert picked.status == 200, picked.text()
    key = "models/alice-first.txt"
    up = page.request.post(
        proc.url(f"/api/objects/upload/alice-models/{base64.b64encode(key.encode()).decode()}"),
        multipart={"file": {"name": "alice-first.txt", "mimeType": "text/plain",
                            "buffer": b"hello from alice"}})
    assert up.status == 200, up.text()

    watch.clear()
    page.goto(proc.url("/buckets"))
    page.wait_for_selector("text=alice-models")
    content = page.content()
    assert "bob-data" not in content and "odh-sandbox" not in content
    page.get_by_text("alice-models").first.click()
    page.wait_for_selector("text=models")
    page.get_by_text("models", exact=True).first.click()
    page.wait_for_selector("text=alice-first.txt")
    assert not watch.unexpected() and not watch.page_errors, (watch.failed, watch.page_errors)

    # Her settings page shows her own S3 settings (none saved: empty), not the shared ones.
    page.goto(proc.url("/settings"))
    page.wait_for_selector("text=S3 Settings")
    own = api(proc, "/api/settings/s3", "sandbox-alice-token")["settings"]
    assert own["accessKeyId"] == "" and own["endpoint"] == ""
    assert not watch.page_errors
