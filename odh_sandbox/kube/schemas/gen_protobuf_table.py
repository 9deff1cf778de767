"""Generate protobuf_fields.json: the protobuf field table of the kinds the sandbox decodes.

Kubernetes' protobuf field numbers are part of its API contract and are published in the
`generated.proto` files of k8s.io/api and k8s.io/apimachinery. This script reads those files
and keeps, for the closure of messages reachable from ROOTS, each field's number, JSON name,
label (single, repeated, map, or inline), type and whether a zero value of it is left out of
JSON. go-to-protobuf writes a non-pointer field whether zero or not, and a pointer field when
set (zero or not): the Go struct in the same package's types.go says which the field is
(Replicas *int32 with tag json:"replicas,omitempty" protobuf:"varint,1,..."), so a zero is
dropped exactly when the field is a non-pointer with `omitempty`, as encoding/json drops it. A Go struct embedded with `json:",inline"` (Volume's VolumeSource, IngressRule's
IngressRuleValue) is a field of its own in protobuf but not in JSON: the kube-apiserver
OpenAPI document (the one gen_openapi_table.py reads) tells them apart, as the message's
definition has no property of that name.

    python odh_sandbox/kube/schemas/gen_protobuf_table.py API_DIR APIMACHINERY_DIR SWAGGER

API_DIR is a checkout of k8s.io/api (kubernetes/api), APIMACHINERY_DIR of k8s.io/apimachinery,
both at the release the sandbox reports (v0.32.x for Kubernetes 1.32); SWAGGER is the OpenAPI
v2 document gen_openapi_table.py reads. The checked-in table was made from kubernetes/api and
kubernetes/apimachinery at tag v0.32.9 and kubernetes-client/python v32.0.1's
kubernetes/swagger.json.unprocessed.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# (apiVersion, kind) the sandbox takes as protobuf request bodies and can answer in protobuf.
ROOTS = {
    "v1": ["Namespace", "ConfigMap", "Secret", "ServiceAccount", "Service", "ResourceQuota",
           "Pod"],
    "apps/v1": ["Deployment"],
    "batch/v1": ["Job", "CronJob"],
    "rbac.authorization.k8s.io/v1": ["Role", "RoleBinding", "ClusterRole",
                                     "ClusterRoleBinding"],
    "scheduling.k8s.io/v1": ["PriorityClass"],
    "policy/v1": ["PodDisruptionBudget"],
    "networking.k8s.io/v1": ["Ingress"],
    "authorization.k8s.io/v1": ["SelfSubjectAccessReview", "SelfSubjectRulesReview",
                                "SubjectAccessReview", "LocalSubjectAccessReview"],
    "authentication.k8s.io/v1": ["TokenReview", "SelfSubjectReview", "TokenRequest"],
    "autoscaling/v1": ["Scale"],
}
# apiVersion -> protobuf package of its generated.proto (k8s.io/api/<dir>).
PACKAGES = {"v1": "core/v1", "apps/v1": "apps/v1", "batch/v1": "batch/v1",
            "rbac.authorization.k8s.io/v1": "rbac/v1", "scheduling.k8s.io/v1": "scheduling/v1",
            "policy/v1": "policy/v1", "networking.k8s.io/v1": "networking/v1",
            "authorization.k8s.io/v1": "authorization/v1",
            "authentication.k8s.io/v1": "authentication/v1", "autoscaling/v1": "autoscaling/v1"}
SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float",
           "sint32", "sint64", "fixed32", "fixed64"}
_FIELD = re.compile(r"^\s*(optional|repeated|required)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|"
                    r"[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")


def parse(path: Path) -> dict[str, dict]:
    """message full name -> {"fields": [...], "wrapper": bool} for one generated.proto."""
    package = ""
    out: dict[str, dict] = {}
    comment: list[str] = []
    msg_comment: list[str] = []
    current: str | None = None
    for line in path.read_text().splitlines():
        s = line.strip()
        if s.startswith("//"):
            comment.append(s)
            continue
        if s.startswith("package "):
            package = s[len("package "):].rstrip(";").strip()
        elif s.startswith("message "):
            current = f"{package}.{s.split()[1]}"
            msg_comment = comment
            out[current] = {"fields": [], "wrapper": False}
        elif s == "}":
            if current is not None:
                fields = out[current]["fields"]
                # A list type marshalled as a message (e.g. ExtraValue): JSON is the bare list.
                out[current]["wrapper"] = any("+protobuf.nullable=true" in c
                                               for c in msg_comment) \
                    and len(fields) == 1 and fields[0][1] == "items" and fields[0][2] == "r"
            current = None
        elif current is not None:
            m = _FIELD.match(line)
            if m:
                label, typ, mk, mv, name, num = m.groups()
                optional = int(any("+optional" in c for c in comment))
                if mk:
                    entry = [int(num), name, "m", f"{_qualify(mk, package)}:"
                             f"{_qualify(mv, package)}", optional]
                else:
                    entry = [int(num), name, "r" if label == "repeated" else "",
                             _qualify(typ, package), optional]
                out[current]["fields"].append(entry)
        comment = []
    return out


_STRUCT = re.compile(r"^type (\w+) struct \{")
_GO_FIELD = re.compile(r'^\s*\w*\s*(\*?)[\w.\[\]*]+\s+`json:"([^"]*)".*protobuf:"\w+,(\d+),')


def parse_go(path: Path, package: str) -> dict[str, dict[int, bool]]:
    """message -> field number -> whether a zero value is omitted from JSON."""
    out: dict[str, dict[int, bool]] = {}
    current: dict[int, bool] | None = None
    for line in path.read_text().splitlines():
        m = _STRUCT.match(line)
        if m:
            current = out.setdefault(f"{package}.{m.group(1)}", {})
            continue
        if line.startswith("}"):
            current = None
            continue
        f = _GO_FIELD.match(line) if current is not None else None
        if f and current is not None:
            pointer, json_tag, num = f.groups()
            current[int(num)] = not pointer and "omitempty" in json_tag.split(",")[1:]
    return out


def _qualify(typ: str, package: str) -> str:
    if typ in SCALARS:
        return typ
    if typ.startswith("."):
        return typ[1:]
    return f"{package}.{typ}" if "." not in typ else typ


def _mark_inline(messages: dict[str, dict], swagger: dict) -> None:
    defs = swagger["definitions"]
    for name, msg in messages.items():
        d = defs.get("io.k8s." + name[len("k8s.io."):]) if name.startswith("k8s.io.") else None
        if not d or "properties" not in d:
            continue
        for f in msg["fields"]:
            if f[2] == "" and f[3] in messages and f[1] not in d["properties"]:
                f[2] = "i"


def build(api_dir: Path, apimachinery_dir: Path, swagger: dict | None = None) -> dict:
    messages: dict[str, dict] = {}
    omit: dict[str, dict[int, bool]] = {}
    for path in sorted(list(api_dir.rglob("generated.proto"))
                       + list(apimachinery_dir.rglob("generated.proto"))):
        parsed = parse(path)
        messages.update(parsed)
        go = path.with_name("types.go")
        if go.exists() and parsed:
            omit.update(parse_go(go, next(iter(parsed)).rsplit(".", 1)[0]))
    for name, msg in messages.items():
        for f in msg["fields"]:
            if f[0] in omit.get(name, {}):
                f[4] = int(omit[name][f[0]])
    if swagger is not None:
        _mark_inline(messages, swagger)
    kinds = {}
    for api_version, names in ROOTS.items():
        pkg = "k8s.io.api." + PACKAGES[api_version].replace("/", ".")
        for kind in names:
            kinds[f"{api_version}/{kind}"] = f"{pkg}.{kind}"
    # The closure of what the roots reach (plus Status, for error answers).
    todo = list(kinds.values()) + ["k8s.io.apimachinery.pkg.apis.meta.v1.Status"]
    keep: dict[str, dict] = {}
    while todo:
        name = todo.pop()
        if name in keep or name in SCALARS:
            continue
        if name not in messages:
            raise SystemExit(f"message {name} not found in the .proto files")
        keep[name] = messages[name]
        for _, _, label, typ, _ in messages[name]["fields"]:
            todo.extend(typ.split(":") if label == "m" else [typ])
    return {"source": "k8s.io/api and k8s.io/apimachinery generated.proto "
                      "(see gen_protobuf_table.py)",
            "kinds": kinds,
            "messages": {k: keep[k]["fields"] for k in sorted(keep)},
            "wrappers": sorted(k for k in keep if keep[k]["wrapper"])}


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    table = build(Path(argv[0]), Path(argv[1]), json.loads(Path(argv[2]).read_text()))
    out = Path(__file__).with_name("protobuf_fields.json")
    # One message per line: compact, yet a diff shows what a new release changed.
    lines = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
             for k, v in table["messages"].items()]
    text = ('{"source": ' + json.dumps(table["source"]) + ',\n"kinds": '
            + json.dumps(table["kinds"], indent=0) + ',\n"wrappers": '
            + json.dumps(table["wrappers"]) + ',\n"messages": {\n' + ",\n".join(lines)
            + "\n}}\n")
    out.write_text(text)
    print(f"{out}: {len(table['kinds'])} kinds, {len(table['messages'])} messages")


if __name__ == "__main__":
    main(sys.argv[1:])
