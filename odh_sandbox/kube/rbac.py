"""RBAC rule evaluation over the stored Roles, ClusterRoles and bindings.

Mirrors kube-apiserver's RBAC authorizer: ClusterRoleBindings grant everywhere,
RoleBindings grant in their namespace (to a Role there or to a ClusterRole), ClusterRoles
with an aggregationRule get the rules of every ClusterRole their selectors match.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .selectors import label_selector_from_dict, labels_match
from .store import RBAC_GROUP, Store

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"username": self.username}
        if self.uid:
            d["uid"] = self.uid
        d["groups"] = list(self.groups)
        if self.extra:
            d["extra"] = {k: list(v) for k, v in self.extra}
        return d


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str
    resource_request: bool = True
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class _Grant:
    rule: dict[str, Any]
    source: str            # for `reason` strings, like the real authorizer's


@dataclass
class Authorizer:
    store: Store
    _cache: dict[tuple[Any, ...], list[_Grant]] = field(default_factory=dict)
    _cache_gen: int = -1

    # -- rule collection -----------------------------------------------------------
    def _rt(self, plural: str):  # noqa: ANN202 - ResourceType
        return self.store.registry.types[(RBAC_GROUP, plural)]

    def _cluster_role_rules(self, name: str, seen: frozenset[str] = frozenset()
                            ) -> list[dict[str, Any]]:
        role = self.store.get(self._rt("clusterroles"), "", name)
        if role is None or name in seen:
            return []
        rules = list(role.get("rules") or [])
        agg = role.get("aggregationRule")
        if agg:
            seen = seen | {name}
            for sel in agg.get("clusterRoleSelectors") or []:
                reqs = label_selector_from_dict(sel) or []
                for other in self.store.iter_sorted(self._rt("clusterroles"), None):
                    oname = other["metadata"]["name"]
                    if oname != name and reqs and labels_match(reqs, other):
                        rules.extend(self._cluster_role_rules(oname, seen))
        return rules

    @staticmethod
    def _subject_matches(subj: dict[str, Any], user: UserInfo, binding_ns: str) -> bool:
        kind = subj.get("kind")
        if kind == "User":
            return subj.get("name") == user.username
        if kind == "Group":
            return subj.get("name") in user.groups
        if kind == "ServiceAccount":
            ns = subj.get("namespace") or binding_ns
            return user.username == f"{SA_PREFIX}{ns}:{subj.get('name')}"
        return False

    def _binding_grants(self, binding: dict[str, Any], user: UserInfo,
                        namespace: str) -> list[_Grant]:
        if not any(self._subject_matches(s, user, namespace)
                   for s in binding.get("subjects") or []):
            return []
        ref = binding.get("roleRef") or {}
        bkind = binding.get("kind", "RoleBinding")
        bname = binding["metadata"]["name"]
        if ref.get("kind") == "ClusterRole":
            rules = self._cluster_role_rules(ref.get("name", ""))
        else:
            role = self.store.get(self._rt("roles"), namespace, ref.get("name", ""))
            rules = list((role or {}).get("rules") or [])
        where = f' in namespace "{namespace}"' if namespace else ""
        src = f'{bkind} "{bname}"{where} of {ref.get("kind")} "{ref.get("name")}"'
        return [_Grant(r, src) for r in rules]

    def grants(self, user: UserInfo, namespace: str) -> list[_Grant]:
        if self._cache_gen != self.store.rbac_generation:
            self._cache.clear()
            self._cache_gen = self.store.rbac_generation
        key = (user.username, user.groups, namespace)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        out: list[_Grant] = []
        for crb in self.store.iter_sorted(self._rt("clusterrolebindings"), None):
            out.extend(self._binding_grants(crb, user, ""))
        if namespace:
            for rb in self.store.iter_sorted(self._rt("rolebindings"), namespace):
                out.extend(self._binding_grants(rb, user, namespace))
        self._cache[key] = out
        return out

    # -- evaluation ----------------------------------------------------------------
    @staticmethod
    def rule_allows(rule: dict[str, Any], a: Attributes) -> bool:
        verbs = rule.get("verbs") or []
        if "*" not in verbs and a.verb not in verbs:
            return False
        if not a.resource_request:
            for url in rule.get("nonResourceURLs") or []:
                if url == "*" or url == a.path or (url.endswith("*")
                                                   and a.path.startswith(url[:-1])):
                    return True
            return False
        if rule.get("nonResourceURLs"):
            return False
        groups = rule.get("apiGroups") or []
        if "*" not in groups and a.api_group not in groups:
            return False
        combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        ok = False
        for res in rule.get("resources") or []:
            if res == "*" or res == combined:
                ok = True
                break
            if a.subresource and res == f"*/{a.subresource}":
                ok = True
                break
        if not ok:
            return False
        names = rule.get("resourceNames") or []
        return not names or (bool(a.name) and a.name in names)

    def authorize(self, a: Attributes) -> tuple[bool, str]:
        ns = a.namespace if a.resource_request else ""
        for g in self.grants(a.user, ns):
            if self.rule_allows(g.rule, a):
                return True, f"RBAC: allowed by {g.source} to User \"{a.user.username}\""
        return False, ""

    def rules_review(self, user: UserInfo, namespace: str) -> dict[str, Any]:
        """status of a SelfSubjectRulesReview: every rule that applies in `namespace`."""
        res_rules, nonres_rules = [], []
        for g in self.grants(user, namespace):
            r = g.rule
            if r.get("nonResourceURLs"):
                nonres_rules.append({"verbs": list(r.get("verbs") or []),
                                     "nonResourceURLs": list(r["nonResourceURLs"])})
            else:
                rr: dict[str, Any] = {"verbs": list(r.get("verbs") or []),
                                      "apiGroups": list(r.get("apiGroups") or []),
                                      "resources": list(r.get("resources") or [])}
                if r.get("resourceNames"):
                    rr["resourceNames"] = list(r["resourceNames"])
                res_rules.append(rr)
        return {"resourceRules": res_rules, "nonResourceRules": nonres_rules,
                "incomplete": False}
