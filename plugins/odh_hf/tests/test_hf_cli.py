"""`odh-core hf import` in a child process, against the session's moto server and hub."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from hf_testkit import SMALL, hub_digest, keys_under, object_digest


async def test_cli_import_shows_progress_and_lands_files(
        odh_base_config: dict[str, Any], s3_config: dict[str, Any], hf_config: dict[str, Any],
        aio_s3: Any, sandbox_s3: Any, hf_models: Any, prefix: str, tmp_path: Path) -> None:
    config = {**odh_base_config, "plugin_autoload": False, "logging": {"level": "WARNING"},
              "plugins": {"s3": {**s3_config, "enabled": True},
                          "hf": {**hf_config, "enabled": True}}}
    path = tmp_path / "odh.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "odh_core", "hf", "import", SMALL, "--config", str(path),
           "--bucket", sandbox_s3.default_bucket, "--prefix", prefix]
    proc = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True,
                                   timeout=50)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert f"importing {SMALL}@" in out
    for name in ("config.json", "a.safetensors", "b.safetensors"):
        assert any(name in line and "100.0%" in line and "completed" in line
                   for line in out.splitlines()), out
    assert any(line.startswith("overall") and "completed" in line for line in out.splitlines())
    landed = await keys_under(aio_s3, sandbox_s3.default_bucket, prefix)
    assert len(landed) == 3
    key = f"{prefix}{SMALL}/a.safetensors"
    assert await object_digest(aio_s3, sandbox_s3.default_bucket, key) == \
        hub_digest(hf_models, SMALL, "a.safetensors")

    # A gated model without a token: a clear message and a non-zero exit.
    cmd[cmd.index(SMALL)] = "sandbox-org/gated-model"
    proc = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True,
                                   timeout=50)
    assert proc.returncode == 1 and "gated" in proc.stderr
