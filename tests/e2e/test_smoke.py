"""The harness itself: a stock bundle is served by a real odh-core and Chromium runs it."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from .conftest import TEC_DIR, OdhProcess, PageWatch


@pytest.mark.timeout(120)
def test_odh_tec_shell_renders(odh_process: Callable[..., OdhProcess],
                               new_page: Callable[..., tuple[Any, PageWatch]]) -> None:
    # Until each app gets its own host name, the dashboard shell must be off to free "/".
    proc = odh_process({"plugins": {"s3": {"static_dir": str(TEC_DIR)},
                                    "dashboard": {"enabled": False}}}, dev=True)
    page, watch = new_page()
    page.goto(proc.url("/"))
    page.wait_for_selector("text=S3 Objects Browser", timeout=30_000)
    assert not watch.page_errors
