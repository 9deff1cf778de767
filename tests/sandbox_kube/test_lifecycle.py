"""What the control plane adds that imports rely on (odh_sandbox/kube/lifecycle.py), through
the official client: Leases with optimistic concurrency, and the garbage collector's
ownerReference cascade."""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def _gone(read: Callable[[], Any], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read()
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        time.sleep(0.05)
    return False


def test_leases_are_served_with_optimistic_concurrency(
        api_client: Callable[..., client.ApiClient], ns: str) -> None:
    leases = client.CoordinationV1Api(api_client())
    body = client.V1Lease(metadata=client.V1ObjectMeta(name="worker"),
                          spec=client.V1LeaseSpec(holder_identity="a",
                                                  lease_duration_seconds=15))
    made = leases.create_namespaced_lease(ns, body)
    assert made.spec.holder_identity == "a"
    stale = made.metadata.resource_version
    made.spec.holder_identity = "b"
    taken = leases.replace_namespaced_lease("worker", ns, made)
    assert taken.spec.holder_identity == "b"
    made.metadata.resource_version = stale  # a renewal based on what is no longer there
    made.spec.holder_identity = "a"
    with pytest.raises(ApiException) as err:
        leases.replace_namespaced_lease("worker", ns, made)
    assert err.value.status == 409
    assert [x.metadata.name for x in leases.list_namespaced_lease(ns).items] == ["worker"]


def test_deleting_an_owner_deletes_its_dependents_transitively(
        core: client.CoreV1Api, ns: str) -> None:
    def owned_by(obj: Any) -> list[client.V1OwnerReference]:
        return [client.V1OwnerReference(api_version="v1", kind="ConfigMap",
                                        name=obj.metadata.name, uid=obj.metadata.uid)]

    parent = core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="parent")))
    child = core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="child", owner_references=owned_by(parent))))
    core.create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="grandchild", owner_references=owned_by(child))))
    core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="bystander")))
    core.delete_namespaced_config_map("parent", ns)
    assert _gone(lambda: core.read_namespaced_config_map("child", ns))
    assert _gone(lambda: core.read_namespaced_secret("grandchild", ns))
    assert core.read_namespaced_config_map("bystander", ns).metadata.name == "bystander"
