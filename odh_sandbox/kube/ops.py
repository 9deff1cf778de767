"""REST semantics of the resource endpoints, independent of HTTP.

Each operation takes already-authorised arguments and returns the response object (or
raises KubeError). It follows kube-apiserver's generic registry: create/update strategies,
optimistic concurrency, status subresources, dryRun, finalizers, namespace checks.
"""
from __future__ import annotations

import base64
import copy
import json
import random
import re
from datetime import datetime, timezone
from typing import Any

from dataclasses import dataclass, field

from . import errors, managed, validation
from .errors import KubeError, bad_request
from .patch import apply_merge, json_patch, merge_patch, strategic_merge
from .resources import ResourceType
from .selectors import make_filter
from .store import NS_KEY, Store, now_rfc3339

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Types whose DELETE answers with the object rather than a Status (generic registry's
# ReturnDeletedObject): pods, namespaces, CRDs, custom resources.
_RETURNS_OBJECT = {("", "pods"), ("", "namespaces"),
                   ("apiextensions.k8s.io", "customresourcedefinitions")}

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"


@dataclass
class WriteOptions:
    """Per-request write options: who writes (the field manager), how unknown fields are
    answered, whether an apply takes fields other managers own."""
    manager: str = "unknown"
    fv: validation.FieldValidation = field(default_factory=validation.FieldValidation)
    force: bool = False


def with_version(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    """The object as a client of `api_version` sees it (no copy when it already matches)."""
    if obj.get("apiVersion") == api_version:
        return obj
    out = dict(obj)
    out["apiVersion"] = api_version
    return out


def success_status(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {"name": obj["metadata"]["name"]}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["uid"] = obj["metadata"].get("uid", "")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


def _encode_continue(rv: int, ns: str, name: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{ns}/{name}\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        pad = "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(token + pad))
        ns, _, name = data["start"].rstrip("\x00").partition("/")
        return int(data["rv"]), (ns, name)
    except (ValueError, KeyError, TypeError):
        raise bad_request("continue key is not valid: incorrect encoded start "
                          "resourceVersion (version meta.k8s.io/v1)") from None


class Api:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._ns_rt = store.registry.types[NS_KEY]
        # The OpenAPI schemas writes are checked against (set by the server; None: no
        # pruning, e.g. in unit tests of the REST semantics alone).
        self.schemas: Any = None

    def _pruned(self, rt: ResourceType, version: str, obj: dict[str, Any],
                opts: WriteOptions, partial: bool = False) -> dict[str, Any]:
        if self.schemas is None:
            return obj
        name, defs = self.schemas.definition(rt, version)
        if not name or name not in defs:
            return obj
        return validation.validate(obj, name, defs, rt.custom, opts.fv, rt.kind, rt.group,
                                   partial)

    # -- helpers -------------------------------------------------------------------
    def _require_namespace(self, rt: ResourceType, namespace: str) -> None:
        if rt.namespaced and self.store.get(self._ns_rt, "", namespace) is None:
            raise errors.not_found("namespaces", "", namespace)

    def _must_get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt, namespace, name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    @staticmethod
    def _check_type(rt: ResourceType, body: Any, version: str) -> None:
        if not isinstance(body, dict):
            raise bad_request("the object provided is unrecognized (must be of type "
                              f"{rt.kind})")
        want = rt.api_version(version)
        av, kind = body.get("apiVersion"), body.get("kind")
        if av and av != want and av not in [rt.api_version(v) for v in rt.versions]:
            raise bad_request(f"the API version in the data ({av}) does not match the "
                              f"expected API version ({want})")
        if kind and kind != rt.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected "
                              f"kind ({rt.kind})")

    def _validate(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        causes: list[tuple[str, str, str]] = []
        if not name:
            causes.append(("metadata.name", "FieldValueRequired",
                           "Required value: name or generateName is required"))
        elif rt.group == "rbac.authorization.k8s.io":
            if "/" in name or "%" in name or name in (".", ".."):
                causes.append(("metadata.name", "FieldValueInvalid",
                               f'Invalid value: "{name}": may not contain \'/\' or \'%\''))
        elif rt.key == NS_KEY:
            if len(name) > 63 or not _LABEL.match(name):
                causes.append(("metadata.name", "FieldValueInvalid",
                               f'Invalid value: "{name}": a lowercase RFC 1123 label must '
                               "consist of lower case alphanumeric characters or '-', and "
                               "must start and end with an alphanumeric character"))
        elif len(name) > 253 or not _SUBDOMAIN.match(name):
            causes.append(("metadata.name", "FieldValueInvalid",
                           f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                           "consist of lower case alphanumeric characters, '-' or '.', and "
                           "must start and end with an alphanumeric character"))
        for k, v in (meta.get("labels") or {}).items():
            if not isinstance(v, str):
                causes.append((f"metadata.labels.{k}", "FieldValueInvalid",
                               "Invalid value: label values must be strings"))
        if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions") and name:
            spec = obj.get("spec") or {}
            plural = (spec.get("names") or {}).get("plural", "")
            if name != f"{plural}.{spec.get('group', '')}":
                causes.append(("metadata.name", "FieldValueInvalid",
                               f'Invalid value: "{name}": must be spec.names.plural+"."+'
                               "spec.group"))
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)

    @staticmethod
    def _normalise(rt: ResourceType, obj: dict[str, Any]) -> None:
        """Type-specific defaulting that real strategies do on every write."""
        if rt.key == ("", "secrets"):
            string_data = obj.pop("stringData", None)
            if string_data:
                data = dict(obj.get("data") or {})
                for k, v in string_data.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
                obj["data"] = data
            obj.setdefault("type", "Opaque")

    def _prepare_create(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation", "selfLink"):
            meta.pop(k, None)
        if "status" in rt.subresources:
            obj.pop("status", None)
        if rt.key == ("", "pods"):
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
            spec = obj.setdefault("spec", {})
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("serviceAccountName", "default")
        elif rt.key == NS_KEY:
            labels = dict(meta.get("labels") or {})
            labels["kubernetes.io/metadata.name"] = meta["name"]
            meta["labels"] = labels
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
        elif rt.key == ("", "services"):
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if spec.get("clusterIP") != "None":
                ip = f"10.96.{random.randint(0, 255)}.{random.randint(1, 254)}"
                spec.setdefault("clusterIP", ip)
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
            obj["status"] = {"loadBalancer": {}}
        elif rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            names = (obj.get("spec") or {}).get("names") or {}
            ts = now_rfc3339()
            obj["status"] = {
                "acceptedNames": names,
                "storedVersions": [v["name"] for v in (obj.get("spec") or {})
                                   .get("versions") or [] if v.get("storage")],
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": ts},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted",
                     "lastTransitionTime": ts}]}

    # -- operations ----------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        return self._must_get(rt, namespace, name)

    def list(self, rt: ResourceType, namespace: str | None, version: str,
             args: dict[str, str]) -> dict[str, Any]:
        pred = make_filter(args.get("labelSelector"), args.get("fieldSelector"), rt.kind)
        limit = int(args.get("limit") or 0)
        if limit < 0:
            raise bad_request("limit must be non-negative")
        list_rv = self.store.resource_version
        after = None
        if args.get("continue"):
            list_rv, after = _decode_continue(args["continue"])
            if list_rv < self.store.compacted_rv:
                raise errors.gone_expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use "
                    "the continue token in this response to retrieve the remainder of the "
                    "results.")
        api_version = rt.api_version(version)
        items: list[dict[str, Any]] = []
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        it = self.store.iter_sorted(rt, namespace, after)
        for obj in it:
            if pred is not None and not pred(obj):
                continue
            if limit and len(items) == limit:
                # There is at least one more match: hand out a continue token.
                last = items[-1]["metadata"]
                meta["continue"] = _encode_continue(list_rv, last.get("namespace", ""),
                                                    last["name"])
                if pred is None:
                    meta["remainingItemCount"] = 1 + sum(1 for _ in it)
                break
            items.append(with_version(obj, api_version))
        return {"kind": rt.list_kind, "apiVersion": api_version, "metadata": meta,
                "items": items}

    def create(self, rt: ResourceType, namespace: str, version: str, body: Any,
               dry_run: bool, opts: WriteOptions | None = None,
               applied: dict[str, Any] | None = None) -> dict[str, Any]:
        opts = opts or WriteOptions()
        self._check_type(rt, body, version)
        obj = copy.deepcopy(body)
        if isinstance(obj.get("metadata"), dict):
            obj["metadata"].pop("managedFields", None)
        obj = self._pruned(rt, version, obj, opts)
        obj["apiVersion"] = rt.api_version(rt.versions[0])
        obj["kind"] = rt.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            for _ in range(20):
                cand = meta["generateName"] + "".join(random.choices(_GEN_ALPHABET, k=5))
                if self.store.get(rt, namespace, cand) is None:
                    meta["name"] = cand
                    break
        self._validate(rt, obj)
        self._require_namespace(rt, namespace)
        if self.store.get(rt, namespace, meta["name"]) is not None:
            raise errors.already_exists(rt.plural, rt.group, meta["name"])
        self._prepare_create(rt, obj)
        self._normalise(rt, obj)
        skip_status = "status" in rt.subresources
        if applied is not None:
            obj = managed.apply(None, obj, applied, opts.manager, rt.api_version(version),
                                opts.force, skip_status, rt.plural, meta["name"])
        else:
            managed.record_update(None, obj, opts.manager, rt.api_version(version),
                                  skip_status)
        if dry_run:
            meta.setdefault("uid", "00000000-0000-0000-0000-000000000000")
            meta["creationTimestamp"] = now_rfc3339()
            if rt.has_generation:
                meta["generation"] = 1
            return with_version(obj, rt.api_version(version))
        return with_version(self.store.create(rt, obj), rt.api_version(version))

    def replace(self, rt: ResourceType, namespace: str, name: str, version: str, body: Any,
                dry_run: bool, subresource: str = "", opts: WriteOptions | None = None
                ) -> dict[str, Any]:
        self._check_type(rt, body, version)
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the "
                              f"name on the URL ({name})")
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        old = self._must_get(rt, namespace, name)
        return self._update(rt, old, copy.deepcopy(body), version, dry_run, subresource,
                            opts or WriteOptions())

    def _update(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any],
                version: str, dry_run: bool, subresource: str, opts: WriteOptions,
                applied: dict[str, Any] | None = None) -> dict[str, Any]:
        name = old["metadata"]["name"]
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        if subresource == "status":
            obj = dict(old)
            obj["metadata"] = dict(old["metadata"])
            if "status" in new:
                obj["status"] = new["status"]
            else:
                obj.pop("status", None)
        else:
            obj = new
            obj["apiVersion"] = rt.api_version(rt.versions[0])
            obj["kind"] = rt.kind
            # Copy: patch results share unpatched sub-dicts with the stored object.
            meta = obj["metadata"] = dict(obj.get("metadata") or {})
            meta["name"] = name
            if rt.namespaced:
                meta["namespace"] = old["metadata"].get("namespace", "")
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
                if k in old["metadata"]:
                    meta[k] = old["metadata"][k]
                else:
                    meta.pop(k, None)
            if "status" in rt.subresources:
                if "status" in old:
                    obj["status"] = old["status"]
                else:
                    obj.pop("status", None)
            if rt.key == NS_KEY:
                labels = dict(meta.get("labels") or {})
                labels["kubernetes.io/metadata.name"] = name
                meta["labels"] = labels
            self._normalise(rt, obj)
            self._validate(rt, obj)
            obj = self._pruned(rt, version, obj, opts,)
        skip_status = "status" in rt.subresources and subresource != "status"
        if applied is not None:
            obj = managed.apply(old, obj, applied, opts.manager, rt.api_version(version),
                                opts.force, skip_status, rt.plural, name)
        else:
            managed.record_update(old, obj, opts.manager, rt.api_version(version),
                                  skip_status, subresource)
        obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if obj == old:
            return with_version(old, rt.api_version(version))  # no-op: no write, no event
        if dry_run:
            return with_version(obj, rt.api_version(version))
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            # The last finalizer is gone: the deletion that was waiting completes now.
            return with_version(self.store.delete(rt, meta.get("namespace", ""), name)
                                or obj, rt.api_version(version))
        return with_version(self.store.update(rt, obj, old), rt.api_version(version))

    def patch(self, rt: ResourceType, namespace: str, name: str, version: str,
              content_type: str, raw: bytes, args: dict[str, str], dry_run: bool,
              subresource: str = "", opts: WriteOptions | None = None
              ) -> tuple[int, dict[str, Any]]:
        opts = opts or WriteOptions()
        ctype = content_type.split(";")[0].strip().lower()
        if ctype in (APPLY_PATCH, APPLY_CBOR):
            return self._apply(rt, namespace, name, version, raw, args, dry_run, subresource,
                               opts)
        old = self._must_get(rt, namespace, name)
        new = self._patch_doc(rt, with_version(old, rt.api_version(version)), ctype, raw)
        return 200, self._patched(rt, old, new, version, dry_run, subresource, opts)

    @staticmethod
    def _patch_doc(rt: ResourceType, base: dict[str, Any], ctype: str, raw: bytes
                   ) -> dict[str, Any]:
        """base with a JSON, merge or strategic merge patch applied."""
        allowed = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
        if not rt.custom:
            allowed.insert(2, STRATEGIC_PATCH)
        if ctype not in allowed or ctype == APPLY_PATCH:
            raise KubeError(415, f"the body of the request was in an unknown format - accepted "
                                 f"media types include: {', '.join(allowed)}",
                            "UnsupportedMediaType")
        try:
            patch = json.loads(raw or b"null")
        except ValueError as e:
            raise bad_request(f"error decoding patch: {e}") from None
        if ctype == JSON_PATCH:
            new = json_patch(base, patch)
        elif not isinstance(patch, dict):
            raise bad_request("json: cannot unmarshal into object")
        elif ctype == MERGE_PATCH:
            new = merge_patch(base, patch)
        else:
            new = strategic_merge(base, patch)
        if not isinstance(new, dict):
            raise bad_request("patch did not produce an object")
        return new

    # -- the scale subresource (autoscaling/v1 Scale) --------------------------------
    def _scale_paths(self, rt: ResourceType, version: str) -> tuple[str, str, str]:
        """(spec replicas, status replicas, label selector) paths, as the CRD says."""
        if rt.custom and self.schemas is not None:
            crd = self.schemas.crd_for(rt) or {}
            for v in (crd.get("spec") or {}).get("versions") or []:
                sc = (v.get("subresources") or {}).get("scale")
                if v.get("name") == version and isinstance(sc, dict):
                    return (sc.get("specReplicasPath", ".spec.replicas"),
                            sc.get("statusReplicasPath", ".status.replicas"),
                            sc.get("labelSelectorPath", ""))
        return ".spec.replicas", ".status.replicas", ""

    @staticmethod
    def _at(obj: Any, path: str) -> Any:
        for part in [p for p in path.split(".") if p]:
            obj = obj.get(part) if isinstance(obj, dict) else None
        return obj

    def _scale_of(self, rt: ResourceType, obj: dict[str, Any], version: str
                  ) -> dict[str, Any]:
        spec_path, status_path, sel_path = self._scale_paths(rt, version)
        meta = obj["metadata"]
        status: dict[str, Any] = {"replicas": int(self._at(obj, status_path) or 0)}
        if sel_path:
            selector = self._at(obj, sel_path)
        else:
            labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        if selector:
            status["selector"] = selector
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                  "creationTimestamp") if k in meta},
                "spec": {"replicas": int(self._at(obj, spec_path) or 0)}, "status": status}

    def scale(self, rt: ResourceType, namespace: str, name: str, version: str, verb: str,
              content_type: str, raw: bytes, body: Any, dry_run: bool,
              opts: WriteOptions) -> dict[str, Any]:
        """GET, PUT or PATCH of <resource>/scale: reads or writes the replicas."""
        old = self._must_get(rt, namespace, name)
        current = self._scale_of(rt, old, version)
        if verb == "get":
            return current
        if verb == "update":
            new = body
        else:
            new = self._patch_doc(rt, current, content_type.split(";")[0].strip().lower(),
                                  raw)
        if not isinstance(new, dict) or new.get("kind", "Scale") != "Scale":
            raise bad_request("the object provided is unrecognized (must be of type Scale)")
        replicas = (new.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", name, [(
                "spec.replicas", "FieldValueInvalid",
                f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0")])
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        obj = copy.deepcopy(old)
        target = obj
        parts = [p for p in self._scale_paths(rt, version)[0].split(".") if p]
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = replicas
        updated = self._update(rt, old, obj, version, dry_run, "", opts)
        return self._scale_of(rt, updated, version)

    def _patched(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any],
                 version: str, dry_run: bool, subresource: str, opts: WriteOptions,
                 applied: dict[str, Any] | None = None) -> dict[str, Any]:
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if meta.get("name") != old["metadata"]["name"]:
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match "
                              f"the name on the URL ({old['metadata']['name']})")
        if subresource != "status" and "status" in rt.subresources:
            new = dict(new)
            if "status" in old:
                new["status"] = old["status"]
        return self._update(rt, old, new, version, dry_run, subresource, opts, applied)

    def _apply(self, rt: ResourceType, namespace: str, name: str, version: str, raw: bytes,
               args: dict[str, str], dry_run: bool, subresource: str, opts: WriteOptions
               ) -> tuple[int, dict]:
        import yaml  # local: only apply needs YAML

        if not args.get("fieldManager"):
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [(
                "fieldManager", "FieldValueRequired", "Required value: is required for apply "
                "patch")])
        try:
            applied = yaml.safe_load(raw.decode() or "{}")
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise bad_request(f"error decoding YAML: {e}") from None
        if not isinstance(applied, dict):
            raise bad_request("apply patch must be an object")
        self._check_type(rt, applied, version)
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise bad_request("apiVersion and kind must be set in an apply patch")
        ameta = applied.setdefault("metadata", {})
        if ameta.get("name") and ameta["name"] != name:
            raise bad_request(f"the name of the object ({ameta['name']}) does not match the "
                              f"name on the URL ({name})")
        ameta["name"] = name
        ameta.pop("managedFields", None)
        applied = self._pruned(rt, version, applied, opts, partial=True)
        opts.manager = args["fieldManager"]
        opts.force = (args.get("force") or "").lower() in ("true", "1")
        old = self.store.get(rt, namespace, name)
        if old is None:
            if subresource:
                raise errors.not_found(rt.plural, rt.group, name)
            return 201, self.create(rt, namespace, version, applied, dry_run, opts, applied)
        base = with_version(old, rt.api_version(version))
        new = apply_merge(base, applied, strategic=not rt.custom)
        return 200, self._patched(rt, old, new, version, dry_run, subresource, opts, applied)

    def delete(self, rt: ResourceType, namespace: str, name: str, version: str,
               options: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        old = self._must_get(rt, namespace, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"].get("uid"):
            raise errors.conflict(rt.plural, rt.group, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, "
                                  f"UID in object meta: {old['metadata'].get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != \
                old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name,
                                  "Precondition failed: ResourceVersion in precondition: "
                                  f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                  f"{old['metadata']['resourceVersion']}")
        api_version = rt.api_version(version)
        returns_obj = rt.custom or rt.key in _RETURNS_OBJECT
        if old["metadata"].get("finalizers"):
            # Graceful: mark for deletion; it goes when the last finalizer is removed.
            if old["metadata"].get("deletionTimestamp"):
                return with_version(old, api_version)
            obj = dict(old)
            obj["metadata"] = dict(old["metadata"], deletionTimestamp=now_rfc3339(),
                                   deletionGracePeriodSeconds=0)
            if not dry_run:
                obj = self.store.update(rt, obj, old)
            return with_version(obj, api_version)
        if dry_run:
            return with_version(old, api_version) if returns_obj else success_status(rt, old)
        gone = self.store.delete(rt, namespace, name) or old
        if rt.key == NS_KEY:
            gone = dict(gone)
            gone["metadata"] = dict(gone["metadata"], deletionTimestamp=now_rfc3339())
            gone["status"] = {"phase": "Terminating"}
        return with_version(gone, api_version) if returns_obj else success_status(rt, gone)

    def delete_collection(self, rt: ResourceType, namespace: str | None, version: str,
                          args: dict[str, str], dry_run: bool) -> dict[str, Any]:
        listed = self.list(rt, namespace, version, {k: v for k, v in args.items()
                                                     if k in ("labelSelector",
                                                              "fieldSelector")})
        out = []
        for obj in listed["items"]:
            meta = obj["metadata"]
            out.append(self.delete(rt, meta.get("namespace", ""), meta["name"], version, {},
                                   dry_run))
        listed["items"] = [o for o in out if o.get("kind") != "Status"]
        listed["metadata"] = {"resourceVersion": str(self.store.resource_version)}
        return listed


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """kubectl's short human duration (`5s`, `3m`, `2h`, `4d`)."""
    if not timestamp:
        return "<unknown>"
    try:
        t = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "<unknown>"
    secs = int(((now or datetime.now(timezone.utc)) - t).total_seconds())
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    if secs < 3600 * 3:
        return f"{secs // 60}m"
    if secs < 86400 * 2:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"
