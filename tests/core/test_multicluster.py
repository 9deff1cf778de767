"""Two sandbox clusters, the second addressed by a path prefix, each vouching for its own users."""
import shutil
from pathlib import Path

import pytest

from odh_sandbox.kube import SandboxKube

from .conftest import ToyPlugin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def second_cluster(tmp_path_factory):
    """Same seeds, but its token file says alice's token belongs to `carol` there."""
    seeds = tmp_path_factory.mktemp("seeds")
    for f in (ROOT / "conf" / "sandbox").iterdir():
        shutil.copy(f, seeds / f.name)
    tokens = (seeds / "tokens.csv").read_text().replace(
        "sandbox-alice-token,alice,uid-alice", "sandbox-alice-token,carol,uid-carol")
    (seeds / "tokens.csv").write_text(tokens)
    kube = SandboxKube(seed_dir=seeds).start()
    yield kube
    kube.stop()


@pytest.fixture
def odh_extra_plugins():
    return [("toy", ToyPlugin)]


@pytest.fixture
def odh_config(odh_base_config, second_cluster):
    return {**odh_base_config, "kubernetes": {**odh_base_config["kubernetes"], "clusters": {
        "east": {"host": second_cluster.https_url, "ca_file": second_cluster.ca_file,
                 "token": second_cluster.token("odh-core")}}}}


async def test_each_cluster_has_its_own_identities(odh_server):
    here = await odh_server.fetch("/api/clusters/default/toy/whoami", user="alice")
    there = await odh_server.fetch("/api/clusters/east/toy/whoami", user="alice")
    assert here.json()["data"]["user"] == "alice"
    assert there.json()["data"]["user"] == "carol"
    plain = await odh_server.fetch("/api/toy/whoami", user="alice")
    assert plain.json()["data"]["user"] == "alice"  # unprefixed routes use the default


async def test_unknown_cluster_is_404(odh_server):
    resp = await odh_server.fetch("/api/clusters/west/toy/whoami", user="alice")
    assert resp.status == 404 and "unknown cluster" in resp.json()["message"]


async def test_clusters_lists_what_the_caller_can_reach(odh_server, second_cluster):
    resp = await odh_server.fetch("/api/clusters", user="alice")
    assert [(c["name"], c["user"]) for c in resp.json()["data"]] == [("default", "alice"),
                                                                     ("east", "carol")]
    resp = await odh_server.fetch("/api/clusters?all=true", user="bob")
    rows = {c["name"]: c["reachable"] for c in resp.json()["data"]}
    assert rows == {"default": True, "east": True}


class TestPluginsByPrefix:
    @pytest.fixture
    def odh_plugins(self):
        return ["k8s", "watch"]

    async def test_pass_through_reaches_the_named_cluster_as_its_user(self, odh_server):
        path = "k8s/api/v1/namespaces/alice-project"
        assert (await odh_server.fetch(f"/api/{path}", user="alice")).status == 200
        assert (await odh_server.fetch(f"/api/clusters/default/{path}", user="alice")).status == 200
        east = await odh_server.fetch(f"/api/clusters/east/{path}", user="alice")
        assert east.status == 403 and 'User "carol"' in east.json()["message"]

    async def test_watch_by_prefix_sees_only_that_cluster(self, odh_server, second_cluster,
                                                           sandbox_kube):
        import asyncio
        import json

        from kubernetes import client

        ws = await odh_server.ws("/wss/clusters/east/k8s/api/v1/namespaces/default/configmaps"
                                 "?watch=true", user="admin")
        try:
            def create(kube, name):
                cfg = client.Configuration(host=kube.https_url)
                cfg.ssl_ca_cert = kube.ca_file
                cfg.api_key = {"authorization": f"Bearer {kube.token('admin')}"}
                with client.ApiClient(cfg) as api:
                    client.CoreV1Api(api).create_namespaced_config_map("default", {
                        "metadata": {"name": name}})

            await asyncio.to_thread(create, sandbox_kube, "only-on-default-mc")
            await asyncio.to_thread(create, second_cluster, "only-on-east-mc")
            deadline = asyncio.get_running_loop().time() + 10
            seen = []
            while "only-on-east-mc" not in seen:
                timeout = deadline - asyncio.get_running_loop().time()
                frame = await asyncio.wait_for(ws.read_message(), max(timeout, 0.01))
                assert frame is not None, "socket closed"
                seen.append(json.loads(frame)["object"]["metadata"]["name"])
            assert "only-on-default-mc" not in seen
        finally:
            ws.close()
