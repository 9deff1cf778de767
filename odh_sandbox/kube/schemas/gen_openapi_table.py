"""Generate openapi_definitions.json: the OpenAPI schemas of the built-in kinds the sandbox serves.

The source is kube-apiserver's own OpenAPI v2 document of the Kubernetes release the sandbox
reports (1.32): `api/openapi-spec/swagger.json` of kubernetes/kubernetes, also published
unprocessed as `kubernetes/swagger.json.unprocessed` in kubernetes-client/python at v32.0.1.
Only the definitions the served kinds reach are kept (descriptions included: `kubectl
explain` prints them); paths are built at run time, since CRDs add to them.

    python odh_sandbox/kube/schemas/gen_openapi_table.py SWAGGER_JSON

The checked-in file was made from kubernetes-client/python v32.0.1's
kubernetes/swagger.json.unprocessed (3.4 MB, 771 definitions).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# (group, version, kind) of every built-in kind the sandbox serves (resources.builtin_types),
# plus what the paths' responses and bodies name.
KINDS = [
    ("", "v1", k) for k in ("Namespace", "Pod", "Service", "ConfigMap", "Secret",
                            "ServiceAccount", "Event", "PersistentVolumeClaim",
                            "ResourceQuota")
] + [
    ("apps", "v1", "Deployment"), ("batch", "v1", "Job"), ("batch", "v1", "CronJob"),
    ("scheduling.k8s.io", "v1", "PriorityClass"), ("policy", "v1", "PodDisruptionBudget"),
    ("networking.k8s.io", "v1", "Ingress"), ("storage.k8s.io", "v1", "StorageClass"),
    ("rbac.authorization.k8s.io", "v1", "Role"), ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "v1", "SubjectAccessReview"),
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview"),
    ("authentication.k8s.io", "v1", "TokenReview"),
    ("authentication.k8s.io", "v1", "SelfSubjectReview"),
    ("authentication.k8s.io", "v1", "TokenRequest"),
    ("", "v1", "Status"),
]
REF = "#/definitions/"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"][len(REF):]] if isinstance(node.get("$ref"), str) else []
        for v in node.values():
            out += _refs(v)
        return out
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def build(swagger: dict[str, Any]) -> dict[str, Any]:
    defs = swagger["definitions"]
    by_gvk: dict[tuple[str, str, str], str] = {}
    for name, d in defs.items():
        for gvk in d.get("x-kubernetes-group-version-kind") or []:
            by_gvk.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    roots = []
    for gvk in KINDS:
        if gvk not in by_gvk:
            raise SystemExit(f"{gvk} not in the document")
        roots.append(by_gvk[gvk])
    keep: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep[name] = defs[name]
        todo += _refs(defs[name])
    return {"source": "kube-apiserver OpenAPI v2, Kubernetes 1.32 (see gen_openapi_table.py)",
            "definitions": {k: keep[k] for k in sorted(keep)}}


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    table = build(json.loads(Path(argv[0]).read_text()))
    out = Path(__file__).with_name("openapi_definitions.json")
    lines = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'), sort_keys=True)}"
             for k, v in table["definitions"].items()]
    out.write_text('{"source": ' + json.dumps(table["source"]) + ',\n"definitions": {\n'
                   + ",\n".join(lines) + "\n}}\n")
    print(f"{out}: {len(lines)} definitions, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
