"""The out-of-process way: examples/federation-module.json is a valid federation module."""
import json
from pathlib import Path

import pytest

MODULE = json.loads((Path(__file__).parents[1] / "examples" / "federation-module.json")
                    .read_text())


@pytest.fixture
def odh_plugins():
    return ["example", "federation"]


@pytest.fixture
def odh_config(odh_base_config):
    return {**odh_base_config, "plugins": {"federation": {
        "modules": MODULE, "env_config": None, "ca_file": None}}}


async def test_example_module_is_listed_next_to_the_in_process_route(odh_server):
    resp = await odh_server.fetch("/api/federation/modules", user="alice")
    assert [(m["name"], m["remoteEntry"]) for m in resp.json()["data"]] == [
        ("example", "/remoteEntry.js")]
    assert (await odh_server.fetch("/api/example/hello", user="alice")).status == 200
