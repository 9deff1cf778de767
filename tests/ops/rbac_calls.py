"""Every call odh-core makes with its service account, per plugin, as RBAC attributes.

Derived by reading the code (`grep -rn SERVICE_ACCOUNT plugins odh_core`); `SOURCES` names
the files, and a test fails when a file starts using the service account without being
listed here. `NS` stands for the dashboard namespace (kubernetes.dashboard_namespace).
"""
from __future__ import annotations

from dataclasses import dataclass

NS = "<dashboard-namespace>"


@dataclass(frozen=True)
class Call:
    plugin: str
    verb: str
    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    why: str = ""


@dataclass(frozen=True)
class NonResource:
    plugin: str
    path: str
    why: str = ""


NON_RESOURCE = [
    NonResource("core", "/version", "readiness: API server reachable"),
    NonResource("watch", "/api", "discovery (aggregated)"),
    NonResource("watch", "/apis", "discovery (aggregated)"),
    NonResource("watch", "/api/v1", "discovery (legacy fallback)"),
    NonResource("watch", "/apis/apps/v1", "discovery (legacy fallback)"),
]

CALLS = [
    # dashboard: namespaces.py, status.py
    Call("dashboard", "list", "", "namespaces", why="namespaces the user may see"),
    Call("dashboard", "patch", "", "namespaces", name="alice-project",
         why="labels, after the user's own review"),
    Call("dashboard", "get", "", "namespaces", name="kube-system", why="cluster id"),
    Call("dashboard", "get", "config.openshift.io", "clusterversions", name="version"),
    Call("dashboard", "get", "operator.openshift.io", "consoles", name="cluster"),
    # dashboard: boot_caches.py informers
    *[Call("dashboard", v, g, r) for g, r in (
        ("datasciencecluster.opendatahub.io", "datascienceclusters"),
        ("dscinitialization.opendatahub.io", "dscinitializations"),
        ("console.openshift.io", "consolelinks")) for v in ("list", "watch")],
    *[Call("dashboard", v, g, r, NS) for g, r in (
        ("dashboard.opendatahub.io", "odhapplications"),
        ("console.openshift.io", "odhquickstarts"),
        ("build.openshift.io", "buildconfigs"),
        ("build.openshift.io", "builds"),
        ("nim.opendatahub.io", "accounts"),
        ("route.openshift.io", "routes"),
        ("", "configmaps")) for v in ("list", "watch")],
    *[Call("dashboard", v, "", "secrets", NS, "odh-segment-key", "informer by field selector")
      for v in ("list", "watch")],
    # dashboard: dashconfig.py
    *[Call("dashboard", v, "opendatahub.io", "odhdashboardconfigs", NS, n)
      for v, n in (("list", None), ("watch", None), ("get", "odh-dashboard-config"),
                   ("patch", "odh-dashboard-config"), ("create", None))],
    # dashboard: cluster_settings.py
    *[Call("dashboard", v, "", "configmaps", NS, n)
      for v, n in (("get", "odh-segment-key-config"), ("patch", "odh-segment-key-config"),
                   ("create", None))],
    # s3: store.py
    *[Call("s3", v, "", kind, NS, n)
      for kind, name in (("secrets", "odh-core-s3-credentials"),
                         ("configmaps", "odh-core-s3-settings"))
      for v, n in (("get", name), ("update", name), ("create", None))],
    # hf: token_store.py
    *[Call("hf", v, "", "secrets", NS, n)
      for v, n in (("get", "odh-core-hf-token"), ("patch", "odh-core-hf-token"),
                   ("create", None))],
]

# What the service account must NOT be able to do (spot checks of "nothing broader").
DENIED = [
    Call("-", "list", "", "secrets", NS, why="other Secrets' contents"),
    Call("-", "get", "", "secrets", NS, "some-other-secret"),
    Call("-", "get", "", "secrets", "alice-project", "odh-core-s3-credentials"),
    Call("-", "delete", "", "secrets", NS, "odh-core-s3-credentials"),
    Call("-", "list", "", "configmaps", "alice-project"),
    Call("-", "list", "", "pods", "alice-project"),
    Call("-", "create", "", "pods", NS),
    Call("-", "delete", "", "namespaces", "alice-project"),
    Call("-", "update", "", "namespaces", "alice-project"),
    Call("-", "create", "rbac.authorization.k8s.io", "rolebindings", NS),
    Call("-", "list", "kubeflow.org", "notebooks", "alice-project"),
    Call("-", "get", "config.openshift.io", "clusterversions", None, "other"),
    Call("-", "delete", "opendatahub.io", "odhdashboardconfigs", NS, "odh-dashboard-config"),
]

# Files that use SERVICE_ACCOUNT (a test keeps this in step with the code).
SOURCES = {
    "odh_core/builtin/core_routes.py": "core",
    "plugins/odh_watch/resources.py": "watch",
    "plugins/odh_watch/informer.py": "watch (shared mode only; not granted)",
    "plugins/odh_dashboard/informer.py": "dashboard",
    "plugins/odh_dashboard/namespaces.py": "dashboard",
    "plugins/odh_dashboard/status.py": "dashboard",
    "plugins/odh_dashboard/dashconfig.py": "dashboard",
    "plugins/odh_dashboard/cluster_settings.py": "dashboard",
    "plugins/odh_s3/store.py": "s3",
    "plugins/odh_hf/token_store.py": "hf",
}
