"""ImportJobs in the cluster: the CRD, ownerReferences and garbage collection, Leases, and the
Job executor (its manifests rendered, checked by the sandbox API server, and its command run
for real as a process, since the sandbox has no kubelet)."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from odh_hf.cluster import Cluster
from odh_hf.config import HfConfig
from odh_hf.executor import job_rbac
from odh_hf.lease import LeaseKeeper, LeaseLost

from hf_testkit import SMALL, hub_digest, object_digest, start_job, wait_job

ROOT = Path(__file__).resolve().parents[3]
NS = "opendatahub"


@pytest.fixture
def replica_ca(sandbox_kube: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA bundle that is a file of the replica only (a Job pod has no such path)."""
    path = tmp_path_factory.mktemp("replica") / "ca.pem"
    path.write_text(Path(sandbox_kube.ca_file).read_text())
    return path


# Every import here runs with CA bundles configured as files, for the hub and for S3: the same
# code path in a replica and in a Job pod (over HTTP the bundles are loaded, not needed).
@pytest.fixture
def s3_config(s3_config: dict[str, Any], replica_ca: Path) -> dict[str, Any]:
    return {**s3_config, "ca_bundle": str(replica_ca)}


@pytest.fixture
def hf_config(hf_config: dict[str, Any], replica_ca: Path) -> dict[str, Any]:
    return {**hf_config, "ca_bundle": str(replica_ca)}


def test_the_sandbox_seeds_the_deployed_crd() -> None:
    deployed = yaml.safe_load((ROOT / "contrib/deploy/imports/crd-importjobs.yaml").read_text())
    seeded = [d for d in yaml.safe_load_all((ROOT / "conf/sandbox/85-imports.yaml").read_text())
              if d and d["kind"] == "CustomResourceDefinition"]
    assert seeded == [deployed]
    version = deployed["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}


class Admin:
    """The sandbox API server as its admin (to look at what odh-core left behind)."""

    def __init__(self, kube: Any, token: str, session: aiohttp.ClientSession):
        self.kube, self.token, self.session = kube, token, session

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.kube.https_url + path, json=body,
                                        headers={"Authorization": f"Bearer {self.token}"}
                                        ) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.fixture
async def admin(sandbox_kube: Any, tokens: dict[str, str]) -> Any:
    ctx = ssl.create_default_context(cafile=sandbox_kube.ca_file)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        yield Admin(sandbox_kube, tokens["admin"], session)


def _paths(name: str) -> dict[str, str]:
    return {"importjob": f"/apis/odh-core.opendatahub.io/v1alpha1/namespaces/{NS}/importjobs/"
                         f"{name}",
            "secret": f"/api/v1/namespaces/{NS}/secrets/{name}",
            "lease": f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{name}",
            "job": f"/apis/batch/v1/namespaces/{NS}/jobs/{name}"}


async def test_finished_jobs_are_collected_with_what_they_own(
        odh_server: Any, hf_models: Any, http: Any, sandbox_s3: Any, prefix: str,
        admin: Admin) -> None:
    job = await start_job(odh_server, {"repo": SMALL, "bucket": sandbox_s3.default_bucket,
                                       "prefix": prefix, "include": ["*.json"]})
    final = await wait_job(http, odh_server, job["id"])
    assert final["status"] == "completed"
    paths = _paths(job["name"])
    status, obj = await admin.call("GET", paths["importjob"])
    assert status == 200 and obj["status"]["phase"] == "Completed"
    assert obj["status"]["files"]["config.json"]["state"] == "completed"
    assert (await admin.call("GET", paths["secret"]))[0] == 404  # credentials gone at the end
    for _ in range(50):  # released right after the final status write
        status, lease = await admin.call("GET", paths["lease"])
        if status == 200 and lease["spec"]["holderIdentity"] == "":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the Lease was not released: {lease}")
    assert lease["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    hf = odh_server.app.plugin("hf")
    assert await hf.jobs.collect() == []  # younger than keep_finished
    hf.jobs.cfg = hf.jobs.cfg.model_copy(update={"keep_finished": 0})
    assert job["name"] in await hf.jobs.collect()
    for what in ("importjob", "lease"):
        for _ in range(50):
            if (await admin.call("GET", paths[what]))[0] == 404:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the {what} outlived the collected ImportJob")


async def test_job_executor_runs_the_same_worker_from_its_rendered_manifest(
        odh_server: Any, hf_models: Any, http: Any, sandbox_s3: Any, aio_s3: Any,
        sandbox_kube: Any, prefix: str, admin: Admin, tmp_path: Path,
        replica_ca: Path) -> None:
    # CA bundles configured as files of this replica (the hub's and the S3 connection's,
    # `replica_ca`): the pod has neither file, so the job's Secret carries their PEM and the
    # worker writes it to files of its own.
    ca, pem = str(replica_ca), replica_ca.read_text()
    job = await start_job(odh_server, {"repo": SMALL, "bucket": sandbox_s3.default_bucket,
                                       "prefix": prefix, "executor": "job"})
    paths = _paths(job["name"])
    status, batch = await admin.call("GET", paths["job"])
    assert status == 200, batch
    status, owner = await admin.call("GET", paths["importjob"])
    assert batch["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    pod = batch["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:4] == ["hf", "import", "--job", job["name"]]
    creds_dir = container["args"][container["args"].index("--credentials") + 1]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts[creds_dir]]["secret"]["secretName"] == job["name"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["serviceAccountName"] == HfConfig().job_service_account  # contrib/deploy's
    # Nothing of the replica's file system: no host path, no CA path in the env or args.
    assert all(set(v) <= {"name", "secret", "emptyDir"} for v in pod["volumes"]), pod["volumes"]
    assert ca not in json.dumps(batch) and "ca_bundle" not in json.dumps(container["env"]).lower()
    # No kubelet here: no replica touches it (executor job), it stays queued.
    await asyncio.sleep(1.0)
    assert (await odh_server.fetch(f"/api/hf/imports/{job['id']}", user="alice")
            ).json()["data"]["status"] == "queued"

    # Run the pod's command as a process: the Secret "mounted" (its keys as files), the
    # pod's env, the API server as the service account would reach it in-cluster.
    status, secret = await admin.call("GET", paths["secret"])
    assert status == 200
    # The Secret holds the PEM content, not a path.
    for key in ("AWS_CA_BUNDLE", "HF_CA_BUNDLE"):
        assert base64.b64decode(secret["data"][key]).decode() == pem, key
    mounted = tmp_path / "creds"
    mounted.mkdir()
    for key, value in secret["data"].items():
        (mounted / key).write_text(base64.b64decode(value).decode())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HF_", "ODH_"))}
    env.update({e["name"]: e["value"] for e in container["env"]})
    env.update({"ODH_KUBERNETES__HOST": sandbox_kube.https_url,
                "ODH_KUBERNETES__CA_FILE": sandbox_kube.ca_file,
                "ODH_KUBERNETES__TOKEN": sandbox_kube.token("odh-core"),
                "ODH_PLUGINS__HF__SETTINGS_STORE": "file",
                "ODH_PLUGINS__HF__STATE_DIR": str(tmp_path),
                "ODH_LOGGING__LEVEL": "WARNING"})
    args = [a if a != creds_dir else str(mounted) for a in container["args"]]
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "odh_core", *args],
                                   env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = await wait_job(http, odh_server, job["id"])
    assert final["status"] == "completed" and final["executor"] == "job"
    key = f"{prefix}{SMALL}/a.safetensors"
    assert await object_digest(aio_s3, sandbox_s3.default_bucket, key) == \
        hub_digest(hf_models, SMALL, "a.safetensors")
    # Deleting the ImportJob removes the batch Job it owns.
    await admin.call("DELETE", paths["importjob"])
    for _ in range(50):
        if (await admin.call("GET", paths["job"]))[0] == 404:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the batch Job outlived its ImportJob")


async def test_the_job_executor_rbac_covers_the_worker_and_nothing_more(
        admin: Admin) -> None:
    ns = "odh-core-imports-rbac-test"
    assert (await admin.call("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))[0] in (201, 409)
    account = HfConfig().job_service_account
    for doc in job_rbac(ns, account):
        plural = {"ServiceAccount": "serviceaccounts", "Role": "roles",
                  "RoleBinding": "rolebindings"}[doc["kind"]]
        base = "/api/v1" if doc["kind"] == "ServiceAccount" else \
            "/apis/rbac.authorization.k8s.io/v1"
        status, body = await admin.call("POST", f"{base}/namespaces/{ns}/{plural}", doc)
        assert status in (201, 409), body

    async def allowed(verb: str, group: str, resource: str, sub: str = "") -> bool:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": f"system:serviceaccount:{ns}:{account}",
                           "groups": ["system:serviceaccounts", "system:authenticated"],
                           "resourceAttributes": {"namespace": ns, "verb": verb,
                                                  "group": group, "resource": resource,
                                                  "subresource": sub}}}
        status, body = await admin.call(
            "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        assert status == 201, body
        return bool(body["status"].get("allowed"))

    group = "odh-core.opendatahub.io"
    for verb in ("get", "list", "watch"):
        assert await allowed(verb, group, "importjobs")
    assert await allowed("patch", group, "importjobs", "status")
    for verb in ("get", "create", "update"):
        assert await allowed(verb, "coordination.k8s.io", "leases")
    assert await allowed("delete", "", "secrets")
    for verb, grp, res in (("create", group, "importjobs"), ("patch", group, "importjobs"),
                           ("get", "", "secrets"), ("list", "", "secrets"),
                           ("create", "batch", "jobs"), ("delete", group, "importjobs")):
        assert not await allowed(verb, grp, res), (verb, res)


async def test_one_lease_holder_and_takeover_after_expiry(odh_server: Any) -> None:
    cluster = Cluster(odh_server.app.kube, NS)
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x",
             "uid": "00000000-0000-0000-0000-000000000000"}
    name = f"lease-test-{os.getpid()}"
    a, b = LeaseKeeper(cluster, "replica-a", 1.0), LeaseKeeper(cluster, "replica-b", 1.0)
    assert await a.try_acquire(name, owner)
    assert not await b.try_acquire(name, owner)  # held, and first seen just now
    await a.renew(name, owner)
    await asyncio.sleep(0.6)
    assert not await b.try_acquire(name, owner)  # renewed: a new record, seen afresh
    await asyncio.sleep(1.2)  # a stops renewing: expired for b
    assert await b.try_acquire(name, owner)
    with pytest.raises(LeaseLost):
        await a.renew(name, owner)
    await b.release(name)
    assert await a.try_acquire(name, owner)  # released: free at once


async def test_unfinished_imports_count_against_the_stream_limit(
        odh_config: dict[str, Any], hf_models: Any, sandbox_s3: Any, prefix: str,
        tokens: dict[str, str]) -> None:
    from odh_core.testing import build_settings, start_server

    hf_models.faults.slow(rf"{SMALL}/a\.safetensors", bytes_per_second=2 * 2**20, on="cdn")
    server = await start_server(build_settings({**odh_config, "limits": {
        "concurrent_streams": 1}}, ["s3", "hf"]), tokens=tokens)
    try:
        body = {"repo": SMALL, "bucket": sandbox_s3.default_bucket, "prefix": prefix}
        first = await start_job(server, body, user="bob")
        resp = await server.fetch("/api/hf/imports", "POST", user="bob", json=body)
        assert resp.status == 429 and resp.headers.get("Retry-After")
        assert (await server.fetch("/api/hf/imports", "POST", user="admin", json=dict(
            body, prefix=prefix + "admin/"))).status == 201  # admins are exempt
        resp = await server.fetch(f"/api/hf/imports/{first['id']}", "DELETE", user="bob")
        assert resp.status == 200 and resp.json()["data"]["status"] == "cancelled"
    finally:
        await server.close()
