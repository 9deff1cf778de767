"""Every call odh-core makes with its service account, per plugin, as RBAC attributes.

Derived by reading the code (`grep -rn SERVICE_ACCOUNT plugins odh_core`); `SOURCES` names
the files, and a test fails when a file starts using the service account without being
listed here. `NS` stands for the dashboard namespace (kubernetes.dashboard_namespace), `MR`
for the model registries namespace (plugins.dashboard.model_registries_namespace) and `NB` for
the Jupyter tile's notebook namespace (the OdhDashboardConfig's
spec.notebookController.notebookNamespace, else the dashboard namespace), `IM` for the
imports namespace (plugins.hf.jobs_namespace).

`HELD` lists permissions the code never calls but must hold because it writes a Role or
RoleBinding granting them: Kubernetes lets a subject without `escalate`/`bind` create a Role,
or bind one, only when it holds every permission in it.
"""
from __future__ import annotations

from dataclasses import dataclass

NS = "<dashboard-namespace>"
MR = "<model-registries-namespace>"
NB = "<notebook-namespace>"
IM = "<imports-namespace>"


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
    # services: invalidation.py (watches that drop cached gate answers)
    Call("services", "watch", "datasciencepipelinesapplications.opendatahub.io",
         "datasciencepipelinesapplications", why="gate cache invalidation"),
    Call("services", "watch", "trustyai.opendatahub.io", "trustyaiservices",
         why="gate cache invalidation"),
    Call("services", "watch", "", "services", namespace=MR, why="model registry gate cache"),
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
    # dashboard: apps.py informers (/api/docs, /api/operator-subscription-status)
    *[Call("dashboard", v, "dashboard.opendatahub.io", "odhdocuments", NS)
      for v in ("list", "watch")],
    *[Call("dashboard", v, "operators.coreos.com", "subscriptions", why="OLM, any namespace")
      for v in ("list", "watch")],
    # dashboard: apps.py (admin: remove component, ISV validation)
    Call("dashboard", "get", "batch", "cronjobs", NS, "isv-validator", "validation CronJob"),
    *[Call("dashboard", v, "batch", "jobs", NS, n, "<cronjob>-job-custom-run")
      for v, n in (("get", "isv-validator-job-custom-run"), ("create", None),
                   ("delete", "isv-validator-job-custom-run"))],
    Call("dashboard", "update", "", "secrets", NS, "isv-access",
         "enable.validationSecret (named by each OdhApplication)"),
    # dashboard: connection_types.py (reads: any user; writes: admin)
    *[Call("dashboard", v, "", "configmaps", NS, n)
      for v, n in (("get", "s3"), ("list", None), ("create", None), ("update", "s3"),
                   ("patch", "s3"), ("delete", "s3"))],
    # dashboard: templates.py (admin; the dashboard config read by any user)
    *[Call("dashboard", v, "template.openshift.io", "templates", NS, n)
      for v, n in (("list", None), ("get", "vllm-runtime-template"), ("create", None),
                   ("patch", "vllm-runtime-template"), ("delete", "vllm-runtime-template"))],
    Call("dashboard", "create", "serving.kserve.io", "servingruntimes", NS, why="dryRun=All"),
    *[Call("dashboard", v, "opendatahub.io", "odhdashboardconfigs", NS, "odh-dashboard-config")
      for v in ("get", "patch")],
    # dashboard: nim.py (admin enable/disable)
    *[Call("dashboard", v, "nim.opendatahub.io", "accounts", NS, n)
      for v, n in (("list", None), ("create", None), ("delete", "odh-nim-account"))],
    *[Call("dashboard", v, "", "secrets", NS, n)
      for v, n in (("create", None), ("update", "nvidia-nim-access"),
                   ("delete", "nvidia-nim-access"))],
    # dashboard: featurestore.py (namespace names, when the user may list none)
    Call("dashboard", "list", "", "namespaces", why="Feast namespaces by label"),
    # dashboard: model_registry.py (admin), in the registries namespace
    *[Call("dashboard", v, "modelregistry.opendatahub.io", "modelregistries", MR, n)
      for v, n in (("list", None), ("get", "modelregistry-sample"), ("create", None),
                   ("patch", "modelregistry-sample"), ("delete", "modelregistry-sample"))],
    *[Call("dashboard", v, "", "secrets", MR, n, "database password (generated name)")
      for v, n in (("get", "modelregistry-sample-db-x1"), ("list", None), ("create", None),
                   ("patch", "modelregistry-sample-db-x1"),
                   ("delete", "modelregistry-sample-db-x1"))],
    *[Call("dashboard", v, "", "configmaps", MR, why="database CA; certificate names")
      for v in ("list", "create")],
    *[Call("dashboard", v, "rbac.authorization.k8s.io", "rolebindings", MR, n)
      for v, n in (("list", None), ("get", "registry-user-a"), ("create", None),
                   ("delete", "registry-user-a"))],
    # dashboard: notebooks.py
    Call("dashboard", "get", "image.openshift.io", "imagestreams", NS, "s2i-minimal-notebook",
         "notebook image catalog"),
    Call("dashboard", "get", "user.openshift.io", "groups", None, "odh-admins",
         "allowed users (admin)"),
    Call("dashboard", "list", "kubeflow.org", "notebooks", NB, why="allowed users (admin)"),
    Call("dashboard", "list", "", "pods", NB, why="notebook status, after the Notebook read"),
    Call("dashboard", "get", "route.openshift.io", "routes", NB, "jupyter-nb-alice",
         "notebook link, after the Notebook read"),
    # The caller's own objects (names from the exact username, owner annotation checked).
    *[Call("dashboard", v, "kubeflow.org", "notebooks", NB, n, "the caller's Notebook")
      for v, n in (("get", "jupyter-nb-alice"), ("create", None),
                   ("patch", "jupyter-nb-alice"))],
    *[Call("dashboard", v, "", "persistentvolumeclaims", NB, n, "the caller's PVC")
      for v, n in (("get", "jupyterhub-nb-alice-pvc"), ("create", None))],
    *[Call("dashboard", v, "", r, NB, n, "the caller's env Secret/ConfigMap")
      for r in ("secrets", "configmaps")
      for v, n in (("get", "jupyterhub-singleuser-profile-alice-envs"), ("create", None),
                   ("update", "jupyterhub-singleuser-profile-alice-envs"))],
    *[Call("dashboard", v, "rbac.authorization.k8s.io", r, NB, n,
           "jupyter-nb-<user>-notebook-view")
      for r in ("roles", "rolebindings")
      for v, n in (("get", "jupyter-nb-alice-notebook-view"), ("create", None),
                   ("update", "jupyter-nb-alice-notebook-view"))],
    # dashboard: rolebindings.py, the `<notebook namespace>-image-pullers` binding
    *[Call("dashboard", v, "rbac.authorization.k8s.io", "rolebindings", NS, n,
           "image pullers of the notebook namespace")
      for v, n in (("get", "opendatahub-image-pullers"), ("create", None))],
    # s3: store.py
    *[Call("s3", v, "", kind, NS, n)
      for kind, name in (("secrets", "odh-core-s3-credentials"),
                         ("configmaps", "odh-core-s3-settings"))
      for v, n in (("get", name), ("update", name), ("create", None))],
    # s3: watch.py (the same two, watched instead of polled)
    *[Call("s3", v, "", kind, NS, name)
      for kind, name in (("secrets", "odh-core-s3-credentials"),
                         ("configmaps", "odh-core-s3-settings"))
      for v in ("list", "watch")],
    # s3: user_store.py (each user's own settings, 16 shards) and source_routes.py
    *[Call("s3", v, "", "secrets", NS, f"odh-core-user-settings-{c}")
      for c in "0123456789abcdef" for v in ("get", "update")],
    Call("s3", "list", "", "namespaces", why="projects whose S3 connections a user is offered"),
    # hf: token_store.py
    *[Call("hf", v, "", "secrets", NS, n)
      for v, n in (("get", "odh-core-hf-token"), ("patch", "odh-core-hf-token"),
                   ("create", None))],
    # watch: hub.py (auto mode: may the service account watch this key?), rbac_watch.py
    Call("watch", "create", "authorization.k8s.io", "selfsubjectaccessreviews",
         why="auto mode: its own access to a key"),
    *[Call("watch", v, "rbac.authorization.k8s.io", r, why="re-review subscribers on change")
      for r in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")
      for v in ("list", "watch")],
    # hf: cluster.py, lease.py (ImportJobs, their Secrets and Leases, the Job executor)
    *[Call("hf", v, "odh-core.opendatahub.io", "importjobs", IM, why="import jobs")
      for v in ("get", "list", "watch", "create", "patch", "delete")],
    Call("hf", "patch", "odh-core.opendatahub.io", "importjobs/status", IM, why="progress"),
    *[Call("hf", v, "coordination.k8s.io", "leases", IM, "hf-import-0123456789abcdef",
           "one worker per job") for v in ("get", "create", "update")],
    *[Call("hf", v, "", "secrets", IM, "hf-import-0123456789abcdef", "the job's credentials")
      for v in ("get", "create", "delete")],
    Call("hf", "create", "batch", "jobs", IM, why="the Job executor"),
]

# Held, not called: what the Roles odh-core writes (or binds) grant. notebooks.py's per-user
# Role is checked rule by rule in the test (it is built by the code itself); this is the
# model registry operator's `registry-user-<registry>` Role, which the registries'
# permission route binds, and OpenShift's system:image-puller.
HELD_ROLES = {
    MR: [{"apiGroups": [""], "resources": ["services"],
          "resourceNames": ["modelregistry-sample"], "verbs": ["get"]}],
    # OpenShift's system:image-puller, bound by rolebindings.py (image pullers).
    NS: [{"apiGroups": ["image.openshift.io"], "resources": ["imagestreams/layers"],
          "verbs": ["get"]}],
}

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
    # RBAC writes only in the notebook and registries namespaces, never bind/escalate.
    Call("-", "create", "rbac.authorization.k8s.io", "rolebindings", "alice-project"),
    Call("-", "create", "rbac.authorization.k8s.io", "roles", "alice-project"),
    Call("-", "create", "rbac.authorization.k8s.io", "roles", MR),
    Call("-", "create", "rbac.authorization.k8s.io", "clusterrolebindings"),
    Call("-", "update", "rbac.authorization.k8s.io", "clusterroles", None, "admin"),
    Call("-", "delete", "rbac.authorization.k8s.io", "rolebindings", NB, "some-binding"),
    Call("-", "delete", "rbac.authorization.k8s.io", "roles", NB, "some-role"),
    *[Call("-", v, "rbac.authorization.k8s.io", r, ns, "admin")
      for v in ("bind", "escalate") for r in ("roles", "clusterroles") for ns in (NB, MR, NS)],
    # delete only in those namespaced Roles, for those kinds (and names where fixed).
    Call("-", "delete", "", "configmaps", "alice-project", "s3"),
    Call("-", "delete", "", "configmaps", MR, "db-ca-bundle"),
    Call("-", "delete", "", "secrets", NS, "some-other-secret"),
    Call("-", "delete", "", "secrets", NB, "jupyterhub-singleuser-profile-alice-envs"),
    Call("-", "delete", "", "secrets", "alice-project", "nvidia-nim-access"),
    Call("-", "delete", "nim.opendatahub.io", "accounts", NS, "another-account"),
    Call("-", "delete", "template.openshift.io", "templates", "alice-project", "t"),
    Call("-", "delete", "modelregistry.opendatahub.io", "modelregistries", "alice-project", "m"),
    Call("-", "delete", "batch", "jobs", "alice-project", "j"),
    Call("-", "deletecollection", "", "configmaps", NS),
    Call("-", "deletecollection", "", "secrets", MR),
    Call("-", "delete", "kubeflow.org", "notebooks", NB, "jupyter-nb-alice"),
    # Secrets: no list outside the registries namespace, nothing in users' projects.
    Call("-", "list", "", "secrets", NB),
    Call("-", "get", "", "secrets", "alice-project", "jupyterhub-singleuser-profile-alice-envs"),
    Call("-", "update", "", "secrets", "alice-project", "isv-access"),
    Call("-", "get", "", "secrets", "odh-model-registries-other", "x"),
    # The notebook grants stay in the notebook namespace.
    Call("-", "get", "route.openshift.io", "routes", "alice-project", "r"),
    Call("-", "create", "template.openshift.io", "templates", "alice-project"),
    Call("-", "create", "serving.kserve.io", "servingruntimes", "alice-project"),
    Call("-", "create", "", "pods", NB),
    Call("-", "list", "user.openshift.io", "groups"),
    Call("-", "create", "batch", "jobs", "alice-project"),
    Call("-", "list", "kubeflow.org", "notebooks", "alice-project"),
    Call("-", "get", "config.openshift.io", "clusterversions", None, "other"),
    Call("-", "delete", "opendatahub.io", "odhdashboardconfigs", NS, "odh-dashboard-config"),
    # Imports: nothing outside their own namespace, no Secret listing there either.
    Call("-", "list", "", "secrets", IM),
    Call("-", "get", "", "secrets", NS, "hf-import-0123456789abcdef"),
    Call("-", "create", "odh-core.opendatahub.io", "importjobs", "alice-project"),
    Call("-", "update", "coordination.k8s.io", "leases", NS, "some-lease"),
    Call("-", "delete", "batch", "jobs", IM, "hf-import-0123456789abcdef"),
]

# The Job executor's pods (plugins/odh_hf/executor.py, `plugins.hf.executor: job`) run as a
# service account of their own, in the imports namespace: the worker's calls only
# (worker.py, lease.py, cluster.py as the pod uses them; credentials come mounted).
WORKER_SA = "odh-core-import-worker"
WORKER_CALLS = [
    *[Call("hf-worker", v, "odh-core.opendatahub.io", "importjobs", IM, why="its job")
      for v in ("get", "list", "watch")],
    Call("hf-worker", "patch", "odh-core.opendatahub.io", "importjobs/status", IM,
         why="progress"),
    *[Call("hf-worker", v, "coordination.k8s.io", "leases", IM, "hf-import-0123456789abcdef",
           "one worker per job") for v in ("get", "create", "update")],
    Call("hf-worker", "delete", "", "secrets", IM, "hf-import-0123456789abcdef",
         "the finished job's credentials"),
]
WORKER_DENIED = [
    # no creating, changing or deleting jobs: that is the replicas' (the user's request)
    *[Call("-", v, "odh-core.opendatahub.io", "importjobs", IM)
      for v in ("create", "update", "delete", "deletecollection")],
    Call("-", "patch", "odh-core.opendatahub.io", "importjobs", IM, "hf-import-0123456789abcdef"),
    # Secrets: never read through the API (the pod's own is mounted), none listed
    Call("-", "get", "", "secrets", IM, "hf-import-0123456789abcdef"),
    Call("-", "list", "", "secrets", IM),
    Call("-", "create", "", "secrets", IM),
    Call("-", "create", "batch", "jobs", IM),
    Call("-", "create", "", "pods", IM),
    Call("-", "delete", "coordination.k8s.io", "leases", IM, "hf-import-0123456789abcdef"),
    # nothing outside the imports namespace
    Call("-", "get", "odh-core.opendatahub.io", "importjobs", NS, "hf-import-0123456789abcdef"),
    Call("-", "delete", "", "secrets", NS, "odh-core-s3-credentials"),
    Call("-", "get", "", "secrets", NS, "odh-core-hf-token"),
    Call("-", "update", "coordination.k8s.io", "leases", NS, "some-lease"),
    Call("-", "list", "", "namespaces"),
    Call("-", "create", "rbac.authorization.k8s.io", "rolebindings", IM),
]

# Files that use SERVICE_ACCOUNT (a test keeps this in step with the code).
SOURCES = {
    "odh_core/builtin/core_routes.py": "core",
    "plugins/odh_watch/resources.py": "watch",
    "plugins/odh_watch/informer.py": "watch (its informers: the kinds others grant)",
    "plugins/odh_watch/hub.py": "watch",
    "plugins/odh_watch/handlers.py": "watch",
    "plugins/odh_watch/rbac_watch.py": "watch",
    "plugins/odh_dashboard/informer.py": "dashboard",
    "plugins/odh_dashboard/namespaces.py": "dashboard",
    "plugins/odh_dashboard/status.py": "dashboard",
    "plugins/odh_dashboard/dashconfig.py": "dashboard",
    "plugins/odh_dashboard/cluster_settings.py": "dashboard",
    "plugins/odh_dashboard/apps.py": "dashboard",
    "plugins/odh_dashboard/connection_types.py": "dashboard",
    "plugins/odh_dashboard/templates.py": "dashboard",
    "plugins/odh_dashboard/nim.py": "dashboard",
    "plugins/odh_services/invalidation.py": "services",
    "plugins/odh_dashboard/featurestore.py": "dashboard",
    "plugins/odh_dashboard/model_registry.py": "dashboard (model registries namespace)",
    "plugins/odh_dashboard/notebooks.py": "dashboard (notebook namespace)",
    "plugins/odh_dashboard/rolebindings.py": "dashboard (image pullers binding)",
    "plugins/odh_s3/store.py": "s3",
    "plugins/odh_s3/user_store.py": "s3",
    "plugins/odh_s3/watch.py": "s3",
    "plugins/odh_s3/source_routes.py": "s3",
    "plugins/odh_hf/token_store.py": "hf",
    "plugins/odh_hf/cluster.py": "hf (imports namespace)",
}
