"""The Job executor: an import run by a Kubernetes `Job` instead of a web replica.

The pod runs the odh-core image as `odh-core hf import --job NAME`: the same worker the
replicas run (it takes the ImportJob's Lease, resumes from status, writes status), so a pod
that dies is replaced by the Job controller, or the job is picked up by a replica once the
Lease expires. Its credentials come from the Secret the ImportJob owns, mounted read-only
(`--credentials DIR`: the pod needs no right to read Secrets); the Job is owned by the ImportJob too, so deleting the
ImportJob removes both.
"""
from __future__ import annotations

from typing import Any

from .resource import MANAGED_BY, owner_reference

CONFIG_MOUNT = "/etc/odh-core"
CREDENTIALS_MOUNT = "/var/run/odh-core/import"


def render_job(obj: dict[str, Any], *, image: str, service_account: str, config_map: str,
               resources: dict[str, Any], backoff_limit: int = 3,
               active_deadline: int | None = None) -> dict[str, Any]:
    """The batch/v1 Job running the ImportJob `obj` (owned by it: cleaned up with it)."""
    name = obj["metadata"]["name"]
    secret = obj["spec"]["destination"]["secretName"]
    labels = dict(MANAGED_BY, **{"odh-core.opendatahub.io/importjob": name})
    container = {
        "name": "import",
        "image": image,
        "args": ["hf", "import", "--job", name, "--config", f"{CONFIG_MOUNT}/odh.yaml",
                 "--credentials", CREDENTIALS_MOUNT],
        "resources": resources,
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
                         {"name": "credentials", "mountPath": CREDENTIALS_MOUNT,
                          "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }
    spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "template": {
            "metadata": {"labels": labels},
            "spec": {"restartPolicy": "Never", "serviceAccountName": service_account,
                     "containers": [container],
                     "automountServiceAccountToken": True,
                     "volumes": [{"name": "config", "configMap": {"name": config_map}},
                                 {"name": "credentials", "secret": {
                                     "secretName": secret, "defaultMode": 0o400}}]},
        },
    }
    if active_deadline:
        spec["activeDeadlineSeconds"] = active_deadline
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": obj["metadata"]["namespace"],
                         "labels": labels, "ownerReferences": [owner_reference(obj)]},
            "spec": spec}
