"""Prometheus/Thanos pass-through against a fake Prometheus (a real Tornado server)."""
import pytest

from odh_core import Identity
from odh_core.testing import static_identities


@pytest.fixture
def odh_extra_plugins():
    return [static_identities({"t-alice": Identity("alice")})]


@pytest.fixture
def odh_config(prometheus, dead_url):
    return {"sandbox": {"mode": "off"}, "plugins": {"services": {"prometheus": {
        "tenancy_url": prometheus.url + "/tenancy", "cluster_url": prometheus.url + "/cluster"},
        "ca_file": None}}}


@pytest.mark.parametrize("route,port,api", [
    ("query", "tenancy", "query"), ("queryRange", "tenancy", "query_range"),
    ("pvc", "tenancy", "query"), ("bias", "tenancy", "query_range"),
    ("serving", "tenancy", "query_range"), ("cluster/query", "cluster", "query"),
    ("cluster/queryRange", "cluster", "query_range")])
async def test_envelope_and_token(odh_server, prometheus, route, port, api):
    q = "namespace=alice-project&query=up&start=1&end=2&step=30"
    resp = await odh_server.fetch(f"/api/prometheus/{route}", "POST", token="t-alice",
                                  json={"query": q})
    assert resp.status == 200
    body = resp.json()
    assert body["code"] == 200 and body["response"]["status"] == "success"
    assert body["response"]["data"]["result"][0]["value"] == [1700000000, "1"]
    assert prometheus.rec.requests == [{"port": port, "api": api, "query": q,
                                        "auth": "Bearer t-alice"}]


async def test_prometheus_error_is_400_with_its_message(odh_server):
    resp = await odh_server.fetch("/api/prometheus/query", "POST", token="t-alice",
                                  json={"query": "query=bad"})
    assert resp.status == 400
    body = resp.json()
    assert body["message"] == "1:4: parse error: unexpected end of input"
    assert body["code"] == 400 and body["response"] == body["message"] and body["error"]


async def test_html_answer_is_422(odh_server):
    resp = await odh_server.fetch("/api/prometheus/cluster/query", "POST", token="t-alice",
                                  json={"query": "query=html"})
    assert resp.status == 422
    assert resp.json()["message"] == "Unprocessable prometheus response"


async def test_missing_query_is_400_and_no_call(odh_server, prometheus):
    for body in ({}, {"query": ""}, {"query": 5}):
        resp = await odh_server.fetch("/api/prometheus/query", "POST", token="t-alice", json=body)
        assert resp.status == 400 and resp.json()["message"] == "Failed to provide a query"
    assert prometheus.rec.requests == []
    assert (await odh_server.fetch("/api/prometheus/query", "POST",
                                   json={"query": "query=up"})).status == 401


class TestDown:
    @pytest.fixture
    def odh_config(self, dead_url):
        return {"sandbox": {"mode": "off"}, "plugins": {"services": {"prometheus": {
            "tenancy_url": dead_url, "cluster_url": dead_url}, "ca_file": None}}}

    async def test_upstream_down_is_502(self, odh_server):
        resp = await odh_server.fetch("/api/prometheus/query", "POST", token="t-alice",
                                      json={"query": "query=up"})
        assert resp.status == 502 and "unreachable" in resp.json()["message"]
