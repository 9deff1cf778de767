"""The resource types the sandbox serves: built-ins plus whatever CRDs define.

A `ResourceType` is keyed by (group, plural). Objects are stored once per type whatever
version a client asks for; the apiVersion is rewritten on the way out (CRD conversion
strategy "None"), which is what a CRD with several served versions does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .rbac import UserInfo

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class ResourceType:
    group: str
    versions: tuple[str, ...]          # served versions, preferred first
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()  # "status", "log", "scale", "token"
    has_generation: bool = False
    # Virtual types (reviews, and whatever is registered with
    # SandboxKubeServer.register_virtual) are never stored: a VirtualResource answers.
    virtual: bool = False
    custom: bool = False                 # defined by a CRD

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def api_version(self, version: str | None = None) -> str:
        v = version or self.versions[0]
        return f"{self.group}/{v}" if self.group else v


def _core(plural: str, kind: str, namespaced: bool = True, short: Iterable[str] = (),
          cats: Iterable[str] = (), subs: Iterable[str] = (), gen: bool = False) -> ResourceType:
    return ResourceType("", ("v1",), plural, kind, namespaced, kind.lower(), tuple(short),
                        tuple(cats), ALL_VERBS, tuple(subs), gen)


def builtin_types() -> list[ResourceType]:
    rbac = "rbac.authorization.k8s.io"
    authz = "authorization.k8s.io"
    authn = "authentication.k8s.io"
    return [
        _core("namespaces", "Namespace", False, ("ns",), (), ("status", "finalize")),
        _core("pods", "Pod", True, ("po",), ("all",),
              ("status", "log", "exec", "attach", "portforward")),
        _core("services", "Service", True, ("svc",), ("all",), ("status",)),
        _core("configmaps", "ConfigMap", True, ("cm",)),
        _core("secrets", "Secret", True),
        _core("serviceaccounts", "ServiceAccount", True, ("sa",), (), ("token",)),
        _core("events", "Event", True, ("ev",)),
        _core("resourcequotas", "ResourceQuota", True, ("quota",), (), ("status",)),
        _core("persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), (),
              ("status",)),
        ResourceType("apps", ("v1",), "deployments", "Deployment", True, "deployment",
                     ("deploy",), ("all",), ALL_VERBS, ("status", "scale"), True),
        ResourceType("batch", ("v1",), "jobs", "Job", True, "job", (), ("all",), ALL_VERBS,
                     ("status",), True),
        ResourceType("batch", ("v1",), "cronjobs", "CronJob", True, "cronjob", ("cj",),
                     ("all",), ALL_VERBS, ("status",), True),
        ResourceType("scheduling.k8s.io", ("v1",), "priorityclasses", "PriorityClass", False,
                     "priorityclass", ("pc",)),
        ResourceType("policy", ("v1",), "poddisruptionbudgets", "PodDisruptionBudget", True,
                     "poddisruptionbudget", ("pdb",), (), ALL_VERBS, ("status",), True),
        ResourceType("networking.k8s.io", ("v1",), "ingresses", "Ingress", True, "ingress",
                     ("ing",), (), ALL_VERBS, ("status",), True),
        ResourceType("storage.k8s.io", ("v1",), "storageclasses", "StorageClass", False,
                     "storageclass", ("sc",)),
        ResourceType(rbac, ("v1",), "roles", "Role", True, "role"),
        ResourceType(rbac, ("v1",), "rolebindings", "RoleBinding", True, "rolebinding"),
        ResourceType(rbac, ("v1",), "clusterroles", "ClusterRole", False, "clusterrole"),
        ResourceType(rbac, ("v1",), "clusterrolebindings", "ClusterRoleBinding", False,
                     "clusterrolebinding"),
        ResourceType("apiextensions.k8s.io", ("v1",), "customresourcedefinitions",
                     "CustomResourceDefinition", False, "customresourcedefinition",
                     ("crd", "crds"), (), ALL_VERBS, ("status",), True),
        ResourceType(authz, ("v1",), "selfsubjectaccessreviews", "SelfSubjectAccessReview",
                     False, "selfsubjectaccessreview", verbs=CREATE_ONLY, virtual=True),
        ResourceType(authz, ("v1",), "selfsubjectrulesreviews", "SelfSubjectRulesReview",
                     False, "selfsubjectrulesreview", verbs=CREATE_ONLY, virtual=True),
        ResourceType(authz, ("v1",), "subjectaccessreviews", "SubjectAccessReview", False,
                     "subjectaccessreview", verbs=CREATE_ONLY, virtual=True),
        ResourceType(authz, ("v1",), "localsubjectaccessreviews", "LocalSubjectAccessReview",
                     True, "localsubjectaccessreview", verbs=CREATE_ONLY, virtual=True),
        ResourceType(authn, ("v1",), "tokenreviews", "TokenReview", False, "tokenreview",
                     verbs=CREATE_ONLY, virtual=True),
        ResourceType(authn, ("v1",), "selfsubjectreviews", "SelfSubjectReview", False,
                     "selfsubjectreview", verbs=CREATE_ONLY, virtual=True),
    ]


def type_from_crd(crd: dict[str, Any]) -> ResourceType:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    # Storage version first: it is the preferred version in discovery.
    versions.sort(key=lambda v: not v.get("storage", False))
    subs: list[str] = []
    if any((v.get("subresources") or {}).get("status") is not None for v in versions):
        subs.append("status")
    if any((v.get("subresources") or {}).get("scale") is not None for v in versions):
        subs.append("scale")
    return ResourceType(
        group=spec.get("group", ""),
        versions=tuple(v["name"] for v in versions),
        plural=names.get("plural", ""),
        kind=names.get("kind", ""),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        singular=names.get("singular") or names.get("kind", "").lower(),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=tuple(subs),
        has_generation=True,
        custom=True,
    )


@dataclass
class Registry:
    """Served types, by (group, plural) and by (group, version)."""
    types: dict[tuple[str, str], ResourceType] = field(default_factory=dict)

    def add(self, rt: ResourceType) -> None:
        self.types[rt.key] = rt

    def remove(self, key: tuple[str, str]) -> None:
        self.types.pop(key, None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self.types.get((group, plural))
        if rt is None or version not in rt.versions:
            return None
        return rt

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self.types.values():
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return rt
        return None

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions (preferred first), built-in groups in a stable order."""
        out: dict[str, list[str]] = {}
        for rt in self.types.values():
            vs = out.setdefault(rt.group, [])
            for v in rt.versions:
                if v not in vs:
                    vs.append(v)
        return out

    def serves(self, group: str, version: str) -> bool:
        return any(rt.group == group and version in rt.versions for rt in self.types.values())

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.types.values() if rt.group == group and version in rt.versions]


@dataclass(frozen=True)
class VirtualRequest:
    """An authenticated, authorised request on a virtual resource."""
    verb: str                 # get, list, create, update, patch, delete, watch
    rt: ResourceType
    user: UserInfo
    namespace: str
    name: str
    subresource: str
    body: Any                 # decoded JSON (or protobuf) body; None without one
    args: dict[str, str]      # query parameters


class VirtualResource(Protocol):
    """Answers the requests on a virtual resource type (the handler authenticates and
    authorises first, as for stored types, and sends the object in the client's encoding)."""

    def handle(self, request: VirtualRequest) -> tuple[int, dict[str, Any]]: ...
