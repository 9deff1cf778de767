"""Discovery, tables, TLS + kubeconfig, faults, and the on-loop server's lifecycle."""
from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request

import aiohttp
import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.aio import client as aclient
from kubernetes.aio import config as aconfig

from odh_sandbox.kube import SandboxKubeServer
from odh_sandbox.kube.discovery import AGGREGATED_CT


def _get(kube, path: str, accept: str = "application/json", user: str = "admin"):
    req = urllib.request.Request(kube.http_url + path, headers={
        "Accept": accept, "Authorization": f"Bearer {kube.token(user)}"})
    with urllib.request.urlopen(req) as r:
        return r.headers.get("Content-Type"), json.loads(r.read())


def test_discovery_documents(kube) -> None:
    _, api = _get(kube, "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    _, groups = _get(kube, "/apis")
    names = [g["name"] for g in groups["groups"]]
    for g in ("apps", "rbac.authorization.k8s.io", "kubeflow.org", "opendatahub.io",
              "services.platform.opendatahub.io", "datasciencecluster.opendatahub.io"):
        assert g in names
    _, v1 = _get(kube, "/api/v1")
    pods = next(r for r in v1["resources"] if r["name"] == "pods")
    assert pods["namespaced"] and pods["kind"] == "Pod" and "watch" in pods["verbs"]
    assert pods["shortNames"] == ["po"]
    assert any(r["name"] == "pods/log" for r in v1["resources"])
    _, nb = _get(kube, "/apis/kubeflow.org/v1")
    assert nb["groupVersion"] == "kubeflow.org/v1"
    assert nb["resources"][0]["name"] == "notebooks"
    ctype, agg = _get(kube, "/apis", accept=AGGREGATED_CT + ",application/json")
    assert ctype == AGGREGATED_CT and agg["kind"] == "APIGroupDiscoveryList"
    dsc = next(i for i in agg["items"] if i["metadata"]["name"] ==
               "datasciencecluster.opendatahub.io")
    res = dsc["versions"][0]["resources"][0]
    assert res["scope"] == "Cluster" and res["responseKind"]["kind"] == "DataScienceCluster"


def test_unserved_group_is_plain_404(kube) -> None:
    req = urllib.request.Request(kube.http_url + "/apis/widgets.example.com/v1/"
                                 "namespaces/x/widgets",
                                 headers={"Authorization": f"Bearer {kube.token('admin')}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    try:
        assert e.value.code == 404
        assert e.value.headers["Content-Type"].startswith("text/plain")
        assert e.value.read() == b"404 page not found\n"
    finally:
        e.value.close()


def test_dynamic_client(api_client, tmp_path) -> None:
    dyn = dynamic.DynamicClient(api_client("admin"), cache_file=str(tmp_path / "cache.json"))
    notebooks = dyn.resources.get(api_version="kubeflow.org/v1", kind="Notebook")
    assert notebooks.namespaced
    dsci = dyn.resources.get(api_version="dscinitialization.opendatahub.io/v2",
                             kind="DSCInitialization")
    items = dsci.get().items
    assert [i.metadata.name for i in items] == ["default-dsci"]
    assert items[0].status.phase == "Ready"


def test_table_output(kube) -> None:
    accept = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;"
              "v=v1beta1;g=meta.k8s.io,application/json")
    _, table = _get(kube, "/api/v1/namespaces", accept)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    cols = [c["name"] for c in table["columnDefinitions"]]
    assert cols[0] == "Name" and cols[-1] == "Age" and "Status" in cols
    assert ["opendatahub", "Active"] == table["rows"][[r["cells"][0] for r in table["rows"]]
                                                      .index("opendatahub")]["cells"][:2]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_kubeconfig_contexts_and_https(kube) -> None:
    with open(kube.kubeconfig) as fh:
        kc = yaml.safe_load(fh)
    contexts = {c["name"]: c["context"] for c in kc["contexts"]}
    assert kc["current-context"] == "admin"
    assert contexts["alice"]["namespace"] == "alice-project"
    assert contexts["bob"]["namespace"] == "bob-project"
    assert contexts["odh-core"]["namespace"] == "opendatahub"
    assert kc["clusters"][0]["cluster"]["server"] == kube.https_url
    with config.new_client_from_config(config_file=kube.kubeconfig, context="alice") as c:
        pods = client.CoreV1Api(c).list_namespaced_pod(contexts["alice"]["namespace"])
        assert pods.kind == "PodList"


async def test_aio_client_over_https(kube) -> None:
    api = await aconfig.new_client_from_config(config_file=kube.kubeconfig, context="bob")
    async with api:
        me = await aclient.AuthenticationV1Api(api).create_self_subject_review({})
        assert me.status.user_info.username == "bob"
        ns = await aclient.CoreV1Api(api).read_namespace("bob-project")
        assert ns.metadata.labels["kubernetes.io/metadata.name"] == "bob-project"


def test_fault_injection_errors_latency_and_request_log(kube, core: client.CoreV1Api,
                                                        ns: str) -> None:
    kube.requests.reset()
    kube.faults.add_error(503, method="GET", path_regex=f"/namespaces/{ns}/configmaps$",
                          times=1)
    try:
        with pytest.raises(client.ApiException) as e:
            core.list_namespaced_config_map(ns)
        body = json.loads(e.value.body)
        assert e.value.status == 503 and body["reason"] == "ServiceUnavailable"
        assert body["kind"] == "Status"
        assert core.list_namespaced_config_map(ns).kind == "ConfigMapList"  # times=1 used up
        kube.faults.add_latency(0.05, path_regex="/configmaps", times=1)
        assert core.list_namespaced_config_map(ns).kind == "ConfigMapList"
    finally:
        kube.faults.clear()
    assert kube.requests.count("GET", f"/namespaces/{ns}/configmaps$") == 3
    assert all(m == "GET" for m, _, _ in kube.requests)


def test_refuse_connections_then_recover(kube) -> None:
    port = int(kube.http_url.rsplit(":", 1)[1])
    kube.faults.refuse_connections(0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    deadline = time.monotonic() + 20
    while True:  # the listener comes back by itself
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "listener never came back"
            time.sleep(0.05)
    with urllib.request.urlopen(kube.http_url + "/healthz") as r:
        assert r.read() == b"ok"


async def test_on_loop_server_stop_ends_watches_cleanly(tmp_path) -> None:
    server = SandboxKubeServer(kubeconfig_out=tmp_path / "kc.yaml")
    await server.start()
    assert (tmp_path / "kc.yaml").exists() and server.kubeconfig == str(tmp_path / "kc.yaml")
    url = f"{server.http_url}/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, params={"watch": "1", "allowWatchBookmarks": "true"},
                         headers={"Authorization": f"Bearer {server.token('admin')}"}) as r:
            assert json.loads(await r.content.readline())["type"] == "BOOKMARK"
            stopping = asyncio.create_task(server.stop())
            assert await r.content.read() == b""  # clean end of the chunked stream
            await stopping
    assert not server.watchers


def test_a_registered_virtual_resource_is_served_with_rbac(kube, api_client) -> None:
    """register_virtual: the seam computed types (OpenShift's users/~) plug into."""
    from odh_sandbox.kube.resources import ResourceType, VirtualRequest

    class WhoAmI:
        def handle(self, request: VirtualRequest) -> tuple[int, dict]:
            return 200, {"apiVersion": "example.sandbox.io/v1", "kind": "WhoAmI",
                         "metadata": {"name": request.user.username},
                         "verb": request.verb, "name": request.name}

    rt = ResourceType("example.sandbox.io", ("v1",), "whoamis", "WhoAmI", False, "whoami",
                      verbs=("get",), virtual=True)
    kube.call(kube.server.register_virtual, rt, WhoAmI())
    admin = client.CustomObjectsApi(api_client("admin"))
    got = admin.get_cluster_custom_object("example.sandbox.io", "v1", "whoamis", "~")
    assert got["metadata"]["name"] == "admin" and got == dict(got, verb="get", name="~")
    req = urllib.request.Request(kube.http_url + "/apis/example.sandbox.io/v1",
                                 headers={"Authorization": f"Bearer {kube.token('admin')}"})
    with urllib.request.urlopen(req) as r:  # discovery lists it like any other type
        assert [x["name"] for x in json.loads(r.read())["resources"]] == ["whoamis"]
    with pytest.raises(client.ApiException) as e:
        client.CustomObjectsApi(api_client("alice")).get_cluster_custom_object(
            "example.sandbox.io", "v1", "whoamis", "~")
    assert e.value.status == 403
    with pytest.raises(client.ApiException) as e:
        admin.delete_cluster_custom_object("example.sandbox.io", "v1", "whoamis", "~")
    assert e.value.status == 405
