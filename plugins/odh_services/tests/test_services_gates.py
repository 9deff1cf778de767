"""Gated service proxies with the sandbox API server and a real upstream service."""
import json
import uuid
from typing import Any

import pytest

from odh_core.testing import eventually

DSPA_API = "/apis/datasciencepipelinesapplications.opendatahub.io/v1"
TRUSTY_API = "/apis/trustyai.opendatahub.io/v1"


@pytest.fixture
def odh_config(odh_base_config, ml_service):
    return {**odh_base_config, "plugins": {"services": {
        "ca_file": None, "max_body_size": 1024, "cache_ttl": 30,
        "services": {
            "trustyai": {"targets": [{"template": ml_service.url + "/t/{namespace}/{name}"}]},
            "model-serving": {"targets": [{"template": ml_service.url + "/ms"}]},
        }}}}


async def create(odh_server, token, api, ns, plural, obj, status=None):
    kube = odh_server.app.kube
    path = f"{api}/namespaces/{ns}/{plural}"
    created = await kube.json("POST", path, token=token, json=obj)
    if status is not None:
        await set_status(odh_server, token, f"{path}/{created['metadata']['name']}", status)
    return f"{path}/{obj['metadata']['name']}"


async def set_status(odh_server, token, path, status):
    await odh_server.app.kube.json("PATCH", path + "/status", token=token,
                                   data=json.dumps({"status": status}).encode(),
                                   headers={"Content-Type": "application/merge-patch+json"})


def name():
    return "s-" + uuid.uuid4().hex[:8]


@pytest.mark.parametrize("svc,component,condition", [
    ("pipelines", "apiServer", "APIServerReady"), ("mlmd", "mlmdProxy", "MLMDProxyReady")])
async def test_pipelines_gate_refuses_before_ready_then_proxies(
        odh_server, tokens, ml_service, sandbox_kube, svc, component, condition):
    n = name()
    url = f"/api/service/{svc}/alice-project/{n}/apis/v2beta1/runs?pageSize=5"
    resp = await odh_server.fetch(url, user="alice")
    assert resp.status == 404
    assert resp.json()["message"] == f"DataSciencePipelinesApplication alice-project/{n} not found"
    path = await create(odh_server, tokens["admin"], DSPA_API, "alice-project",
                        "datasciencepipelinesapplications", {
                            "apiVersion": "datasciencepipelinesapplications.opendatahub.io/v1",
                            "kind": "DataSciencePipelinesApplication",
                            "metadata": {"name": n}, "spec": {}},
                        status={"conditions": [{"type": condition, "status": "False"}]})
    resp = await odh_server.fetch(url, user="alice")
    assert resp.status == 404 and "is not ready" in resp.json()["message"]
    assert condition in resp.json()["message"]
    assert ml_service.rec.requests == []
    await set_status(odh_server, tokens["admin"], path, {
        "conditions": [{"type": condition, "status": "True"}],
        "components": {component: {"url": ml_service.url + "/" + component}}})
    resp = await odh_server.fetch(url, "POST", user="alice", body=b"{}")
    assert resp.status == 200, resp.body
    seen = resp.json()
    assert seen["path"] == f"/{component}/apis/v2beta1/runs" and seen["query"] == "pageSize=5"
    assert seen["auth"] == f"Bearer {tokens['alice']}" and seen["method"] == "POST"
    # resolution is cached: the next calls cost no API call for the gating object
    gets = sandbox_kube.requests.count("GET", rf"{DSPA_API}/namespaces/alice-project/"
                                               rf"datasciencepipelinesapplications/{n}$")
    for _ in range(3):
        assert (await odh_server.fetch(url, user="alice")).status == 200
    assert sandbox_kube.requests.count("GET", rf"{DSPA_API}/namespaces/alice-project/"
                                              rf"datasciencepipelinesapplications/{n}$") == gets
    # a user who cannot read the gating object: 403, and the upstream sees nothing
    before = len(ml_service.rec.requests)
    resp = await odh_server.fetch(url, user="bob")
    assert resp.status == 403 and n in resp.json()["message"]
    assert len(ml_service.rec.requests) == before


async def test_trustyai_gate_and_template(odh_server, tokens, ml_service):
    n = name()
    url = f"/api/service/trustyai/alice-project/{n}/metrics/spd"
    path = await create(odh_server, tokens["admin"], TRUSTY_API, "alice-project",
                        "trustyaiservices", {"apiVersion": "trustyai.opendatahub.io/v1",
                                             "kind": "TrustyAIService", "metadata": {"name": n},
                                             "spec": {}})
    resp = await odh_server.fetch(url, user="alice")
    assert resp.status == 404 and resp.json()["message"] == (
        f"TrustyAIService alice-project/{n} is not ready (condition Available is not True)")
    await set_status(odh_server, tokens["admin"], path,
                     {"conditions": [{"type": "Available", "status": "True"}]})
    resp = await odh_server.fetch(url, user="alice")
    assert resp.status == 200
    assert resp.json()["path"] == f"/t/alice-project/{n}/metrics/spd"


async def test_modelregistry_service_annotation(odh_server, tokens, ml_service):
    n = name()
    await create(odh_server, tokens["admin"], "/api/v1", "odh-model-registries", "services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": n, "annotations": {
            "routing.opendatahub.io/external-address-rest": ml_service.url + "/mr"}},
        "spec": {"ports": [{"port": 8080}]}})
    url = f"/api/service/modelregistry/{n}/api/model_registry/v1alpha3/registered_models"
    resp = await odh_server.fetch(url, user="admin", headers={"Cookie": "session=x"})
    assert resp.status == 200
    seen = resp.json()
    assert seen["path"] == "/mr/api/model_registry/v1alpha3/registered_models"
    assert seen["cookie"] is None and seen["auth"] == f"Bearer {tokens['admin']}"
    before = len(ml_service.rec.requests)
    resp = await odh_server.fetch(url, user="bob")  # alice is a registry user (seed)
    assert resp.status == 403 and len(ml_service.rec.requests) == before
    resp = await odh_server.fetch("/api/service/modelregistry/nope/x", user="admin")
    assert resp.status == 404 and resp.json()["message"] == \
        "Service odh-model-registries/nope not found"


async def test_model_serving_has_no_gate(odh_server, tokens, ml_service):
    resp = await odh_server.fetch("/api/service/model-serving/api/models?x=1", user="alice")
    assert resp.status == 200
    assert resp.json()["path"] == "/ms/api/models" and resp.json()["query"] == "x=1"
    assert resp.json()["auth"] == f"Bearer {tokens['alice']}"


async def test_body_over_limit_is_413_before_any_call(odh_server, ml_service, sandbox_kube):
    n = name()
    before = sandbox_kube.requests.count("GET", rf"datasciencepipelinesapplications/{n}$")
    resp = await odh_server.fetch(f"/api/service/pipelines/alice-project/{n}/apis/x", "POST",
                                  user="alice", body=b"x" * 2048)
    assert resp.status == 413 and "1024" in resp.json()["message"]
    assert sandbox_kube.requests.count("GET", rf"datasciencepipelinesapplications/{n}$") == before
    resp = await odh_server.fetch("/api/service/model-serving/upload", "PUT", user="alice",
                                  body=b"x" * 2048)
    assert resp.status == 413 and ml_service.rec.requests == []


async def test_bad_names_are_400(odh_server):
    resp = await odh_server.fetch("/api/service/pipelines/Alice_Project/x/y", user="alice")
    assert resp.status == 400 and "namespace" in resp.json()["message"]


class TestAddedService:
    """A new gated service is a config entry, not code."""

    @pytest.fixture
    def odh_config(self, odh_base_config, ml_service):
        return {**odh_base_config, "plugins": {"services": {"ca_file": None, "services": {
            "configmap-echo": {
                "gate": {"kind": "ConfigMap", "version": "v1", "plural": "configmaps"},
                "targets": [{"field": ["data", "url"]}]},
            "mlmd": None}}}}

    async def test_config_entry_adds_a_gated_route(self, odh_server, tokens, ml_service):
        n = name()
        await create(odh_server, tokens["admin"], "/api/v1", "alice-project", "configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n},
            "data": {"url": ml_service.url + "/cm"}})
        resp = await odh_server.fetch(f"/api/service/configmap-echo/alice-project/{n}/a",
                                      user="alice")
        assert resp.status == 200 and resp.json()["path"] == "/cm/a"
        assert (await odh_server.fetch("/api/service/mlmd/alice-project/x/y",
                                       user="alice")).status == 404


async def test_a_change_to_the_gating_object_invalidates_the_cache_at_once(odh_server, tokens,
                                                                           ml_service):
    """cache_ttl is 30 s here: seeing the change within a few seconds proves the watch."""
    n = name()
    url = f"/api/service/trustyai/alice-project/{n}/metrics/spd"
    path = await create(odh_server, tokens["admin"], TRUSTY_API, "alice-project",
                        "trustyaiservices", {"apiVersion": "trustyai.opendatahub.io/v1",
                                             "kind": "TrustyAIService", "metadata": {"name": n},
                                             "spec": {}})
    await set_status(odh_server, tokens["admin"], path,
                     {"conditions": [{"type": "Available", "status": "True"}]})
    assert (await odh_server.fetch(url, user="alice")).status == 200  # cached now
    await set_status(odh_server, tokens["admin"], path,
                     {"conditions": [{"type": "Available", "status": "False"}]})
    async def refused() -> Any:
        resp = await odh_server.fetch(url, user="alice")
        return resp if resp.status == 404 else None

    resp = await eventually(refused, "the cached answer to follow the change")
    assert "is not ready" in resp.json()["message"]
