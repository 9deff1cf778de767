"""The Job executor: an import run by a Kubernetes `Job` instead of a web replica.

The pod runs the odh-core image as `odh-core hf import --job NAME`: the same worker the
replicas run (it takes the ImportJob's Lease, resumes from status, writes status), so a pod
that dies is replaced by the Job controller (`backoffLimit`) and the new pod resumes where
the status says. Its credentials come from the Secret the ImportJob owns, mounted read-only
(`--credentials DIR`: the pod cannot read any other Secret); its settings come as `ODH_*`
variables (no ConfigMap to copy between namespaces). The Job is owned by the ImportJob, so
deleting the ImportJob removes both. Replicas still act on a cancel of such a job when the
pod is gone.

The pod's service account (`plugins.hf.job_service_account`) needs what `job_rbac` renders.
"""
from __future__ import annotations

import json
from typing import Any

from .resource import MANAGED_BY, owner_reference

CREDENTIALS_MOUNT = "/var/run/odh-core/import"
# What the pod's odh-core needs of the replica's hf settings (the rest keeps its default).
# Not `ca_bundle`: a replica's path, absent in the pod; the job's Secret carries the PEM.
POD_SETTINGS = ("endpoint", "http_proxy", "https_proxy", "no_proxy", "verify_tls",
                "chunk_size", "retries", "backoff", "backoff_max", "connect_timeout",
                "read_timeout", "max_redirects", "parts_in_flight", "files_in_flight",
                "part_size", "lease_duration", "status_interval")


def pod_env(cfg: Any, namespace: str) -> list[dict[str, str]]:
    """The pod's configuration as `ODH_*` variables: only the s3 and hf plugins, no sandbox,
    the replica's hub settings; no ConfigMap to copy into the imports namespace."""
    # The values are read as YAML scalars: strings go quoted (JSON is YAML), or "off" would
    # be a boolean.
    env = {"ODH_PLUGIN_AUTOLOAD": "false", "ODH_SANDBOX__MODE": json.dumps("off"),
           "ODH_PLUGINS__S3__ENABLED": "true", "ODH_PLUGINS__HF__ENABLED": "true",
           "ODH_PLUGINS__HF__JOBS_NAMESPACE": json.dumps(namespace)}
    for key in POD_SETTINGS:
        value = getattr(cfg, key)
        if value is not None and value != "":
            env[f"ODH_PLUGINS__HF__{key.upper()}"] = json.dumps(value)
    return [{"name": k, "value": v} for k, v in env.items()]


def render_job(obj: dict[str, Any], *, image: str, service_account: str,
               env: list[dict[str, str]], resources: dict[str, Any], backoff_limit: int = 3,
               active_deadline: int | None = None) -> dict[str, Any]:
    """The batch/v1 Job running the ImportJob `obj` (owned by it: cleaned up with it)."""
    name = obj["metadata"]["name"]
    secret = obj["spec"]["destination"]["secretName"]
    labels = dict(MANAGED_BY, **{"odh-core.opendatahub.io/importjob": name})
    container = {
        "name": "import",
        "image": image,
        "args": ["hf", "import", "--job", name, "--credentials", CREDENTIALS_MOUNT],
        "env": env,
        "resources": resources,
        "volumeMounts": [{"name": "credentials", "mountPath": CREDENTIALS_MOUNT,
                          "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "readOnlyRootFilesystem": True,
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
                     "securityContext": {"runAsNonRoot": True,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "volumes": [{"name": "credentials", "secret": {
                                     "secretName": secret, "defaultMode": 0o400}},
                                 {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]},
        },
    }
    if active_deadline:
        spec["activeDeadlineSeconds"] = active_deadline
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": obj["metadata"]["namespace"],
                         "labels": labels, "ownerReferences": [owner_reference(obj)]},
            "spec": spec}


def job_rbac(namespace: str, service_account: str) -> list[dict[str, Any]]:
    """The Job executor pods' ServiceAccount, Role and RoleBinding (least privilege: the
    worker's own calls, nothing of the replicas' creating or collecting)."""
    rules = [
        {"apiGroups": ["odh-core.opendatahub.io"], "resources": ["importjobs"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["odh-core.opendatahub.io"], "resources": ["importjobs/status"],
         "verbs": ["patch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "create", "update"]},
        # the finished job's credentials Secret (names are generated per job)
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["delete"]},
    ]
    meta = {"name": service_account, "namespace": namespace, "labels": dict(MANAGED_BY)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": dict(meta),
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": dict(meta),
         "subjects": [{"kind": "ServiceAccount", "name": service_account,
                       "namespace": namespace}],
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": service_account}},
    ]
