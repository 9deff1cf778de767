"""What stands between `odh-core serve` and its first 200 (issue 22): no module imports aiohttp
at boot (it is imported in a worker thread once the server listens: odh_core.sessions), and no
plugin's start waits on the API server (the s3 plugin loads its settings afterwards)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from odh_core.testing import clean_env

# A fresh interpreter (this one has aiohttp imported long ago): build the app with every
# installed plugin, start it, and report what was imported and loaded by then.
BOOT = r"""
import asyncio, json, sys
from odh_core.config import load_settings
from odh_core import SERVICE_ACCOUNT
from odh_core.app import App

async def main():
    app = App(load_settings(sys.argv[1]))
    await app.start()
    access = app.service("s3.access")
    report = {"aiohttp_at_start": "aiohttp" in sys.modules,
              "s3_settings_loading_at_start": not access.loading.done()}
    await access.loaded()  # then everything works as before
    await app.kube.get("/version", token=SERVICE_ACCOUNT)
    report["aiohttp_after_first_call"] = "aiohttp" in sys.modules
    report["plugins"] = sorted(i.name for i in app.enabled_plugins())
    await app.stop()
    print(json.dumps(report))

asyncio.run(main())
"""


def test_boot_imports_no_aiohttp_and_reads_nothing_before_listening(
        odh_base_config: dict[str, Any], tmp_path: Path) -> None:
    cfg = tmp_path / "odh.yaml"
    cfg.write_text(yaml.safe_dump({**odh_base_config, "plugin_autoload": True}))
    proc = subprocess.run([sys.executable, "-c", BOOT, str(cfg)], capture_output=True,
                          text=True, timeout=60, env=clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"s3", "hf", "watch", "dashboard", "k8s"} <= set(report["plugins"])
    assert report == {**report, "aiohttp_at_start": False, "s3_settings_loading_at_start": True,
                      "aiohttp_after_first_call": True}


async def test_a_task_outliving_the_app_opens_no_new_session(odh_base_config: dict[str, Any]
                                                             ) -> None:
    """Sessions are made on first use: after stop, a late call must fail (as on a closed
    aiohttp session) instead of opening one that nobody closes."""
    import pytest

    from odh_core import SERVICE_ACCOUNT
    from odh_core.testing import build_settings, start_server

    server = await start_server(build_settings(odh_base_config, []))
    kube, sessions = server.app.kube, server.app.sessions
    assert (await kube.get("/version", token=SERVICE_ACCOUNT))["major"]
    await server.close()
    with pytest.raises(RuntimeError, match="stopped"):
        await kube.get("/version", token=SERVICE_ACCOUNT)
    assert sessions is not None and sessions._kube is None and sessions._http is None
