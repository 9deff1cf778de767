"""The Jupyter tile's routes (old backend: routes/api/notebooks, envs, route, status), with the
old shapes.

Who acts: the old backend did everything with its service account. Here the caller's token
creates and changes the objects that belong to the caller - the Notebook `jupyter-nb-<user>`,
its PVC `jupyterhub-nb-<user>-pvc` and the env Secret/ConfigMap
`jupyterhub-singleuser-profile-<user>-envs` - so the API server's RBAC decides. The notebook
namespace (`spec.notebookController.notebookNamespace`, else the dashboard namespace) is
shared, so a deployment grants users `create` there (not get/list: they must not read each
other's env Secrets; the sandbox seed `80-notebooks.yaml` shows the binding), and odh-core's
SERVICE ACCOUNT writes the one thing a user cannot grant themselves: the Role/RoleBinding
`jupyter-nb-<user>-notebook-view` giving that user get/update/patch on exactly their own
objects by name (the old backend's RBAC, widened from `get` on the Notebook to what the user
now does with their token). It is written only for the caller's own username, or for another
user's after the admin check. The service account also reads, after the caller's own read
of the Notebook succeeded, the notebook's pods (`notebook-name=<name>`: a user cannot list pods
of a shared namespace by name; only a running flag and the pod uid leave) and its Route's host
(to set the `opendatahub.io/link` annotation, written with the caller's token), the notebook
image catalog (ImageStreams labelled `opendatahub.io/notebook-image`, public image names) and,
for the admin-only allowed-users route, Notebooks and Groups.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlparse

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, Route, requires

from .base import DashboardHandler
from .cr_calls import MERGE_PATCH, call
from .defaults import DEFAULT_PVC_SIZE_GI
from .names import check_label, check_subdomain

NB = "/apis/kubeflow.org/v1/namespaces/{ns}/notebooks"
ROUTES = "/apis/route.openshift.io/v1/namespaces/{ns}/routes"
IMAGESTREAMS = "/apis/image.openshift.io/v1/namespaces/{ns}/imagestreams"
RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
GROUPS = "/apis/user.openshift.io/v1/groups"
NB_KIND = "Kubeflow Notebooks (kubeflow.org/v1)"
ROUTE_KIND = "OpenShift Routes (route.openshift.io/v1)"
STOP_ANNOTATION = "kubeflow-resource-stopped"
LINK_ANNOTATION = "opendatahub.io/link"
NOTEBOOK_IMAGE_LABEL = "opendatahub.io/notebook-image"
GPU = "nvidia.com/gpu"
MOUNT_PATH = "/opt/app-root/src"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,252}$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MAX_GPUS = 64
# The old backend's DEFAULT_NOTEBOOK_SIZES (spec.notebookSizes replaces them).
DEFAULT_SIZES = [
    {"name": "Small", "resources": {"requests": {"cpu": "1", "memory": "8Gi"},
                                    "limits": {"cpu": "2", "memory": "8Gi"}}},
    {"name": "Medium", "resources": {"requests": {"cpu": "3", "memory": "24Gi"},
                                     "limits": {"cpu": "6", "memory": "24Gi"}}},
    {"name": "Large", "resources": {"requests": {"cpu": "7", "memory": "56Gi"},
                                    "limits": {"cpu": "14", "memory": "56Gi"}}},
    {"name": "X Large", "resources": {"requests": {"cpu": "15", "memory": "120Gi"},
                                      "limits": {"cpu": "30", "memory": "120Gi"}}},
]


def username_translate(username: str) -> str:
    """The old backend's usernameTranslate: encodeURIComponent, a few more characters
    escaped, `%` -> `-`, lower case (so `kube:admin` -> `kube-3aadmin`)."""
    enc = quote(username, safe="!'()*-._~")
    for ch, rep in (("!", "%21"), ("'", "%27"), ("(", "%28"), (")", "%29"), ("*", "%2a"),
                    ("-", "%2d"), (".", "%2e"), ("_", "%5f"), ("~", "%7f")):
        enc = enc.replace(ch, rep)
    return enc.replace("%", "-").lower()


def names_for(username: str) -> dict[str, str]:
    t = username_translate(username)
    out = {"notebook": f"jupyter-nb-{t}", "pvc": f"jupyterhub-nb-{t}-pvc",
           "env": f"jupyterhub-singleuser-profile-{t}-envs", "user": t}
    for key in ("notebook", "pvc", "env"):
        check_subdomain(out[key], "generated name")
    return out


def now_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _env_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"envVars.{what} must be an object of names to strings")
    for key, val in value.items():
        if not ENV_NAME.match(key) or not isinstance(val, str):
            raise ApiError(400, f"envVars.{what}: {key!r} is not a valid variable name or its "
                           "value is not a string")
    return dict(value)


class NotebookHandlerBase(DashboardHandler):
    async def spec(self) -> dict[str, Any]:
        store = self.plugin.config_store
        if store is None:
            raise ApiError(503, "no Kubernetes API server is configured")
        return store.merged(await store.raw(), {}).get("spec") or {}

    async def notebook_namespace(self) -> str:
        nbc = (await self.spec()).get("notebookController") or {}
        return check_label(nbc.get("notebookNamespace") or self.dashboard_namespace,
                           "notebook namespace")

    async def target_user(self, body: dict[str, Any]) -> str:
        """`body.username` (another user's notebook: admins only) or the caller."""
        me = self.identity.username
        other = body.get("username")
        if other in (None, "", me):
            return me
        if not isinstance(other, str) or len(other) > 253:
            raise ApiError(400, "username must be a string")
        await self.require("admin")
        return other

    def state(self, body: dict[str, Any], expected: str, action: str) -> None:
        if body.get("state") != expected:
            raise ApiError(400, f"Failed to {action} the Notebook: state must be {expected!r}")


class NotebookHandler(NotebookHandlerBase):
    async def get(self, ns: str, name: str) -> None:
        """The Notebook, read with the caller's token."""
        check_label(ns, "namespace")
        check_subdomain(name, "notebook name")
        self.write_json(await call(self.kube, "GET", f"{NB.format(ns=ns)}/{name}", NB_KIND,
                                   token=self.token))


class NotebookStatusHandler(NotebookHandlerBase):
    async def get(self, ns: str, name: str) -> None:
        """`{notebook, isRunning, podUID}`. The Notebook is read with the caller's token; only
        then its pods (label `notebook-name`) and its Route's host are read with the SERVICE
        ACCOUNT (see the module docstring); a missing link annotation is set with the caller's
        token."""
        check_label(ns, "namespace")
        check_subdomain(name, "notebook name")
        nb = await call(self.kube, "GET", f"{NB.format(ns=ns)}/{name}", NB_KIND,
                        token=self.token)
        annotations = (nb.get("metadata") or {}).get("annotations") or {}
        running, pod_uid = False, ""
        if not annotations.get(STOP_ANNOTATION):
            pods = await self.kube.json("GET", f"/api/v1/namespaces/{ns}/pods",
                                        token=SERVICE_ACCOUNT,
                                        params={"labelSelector": f"notebook-name={name}"})
            items = pods.get("items") or []
            running = any(_ready(p) for p in items)
            pod_uid = ((items[0].get("metadata") or {}).get("uid") or "") if items else ""
        if running and not annotations.get(LINK_ANNOTATION):
            nb = await self.set_link(nb, ns, name)
        self.write_json({"notebook": nb, "isRunning": running, "podUID": pod_uid})

    async def set_link(self, nb: dict[str, Any], ns: str, name: str) -> dict[str, Any]:
        try:
            route = await self.kube.json("GET", f"{ROUTES.format(ns=ns)}/{name}",
                                         token=SERVICE_ACCOUNT)
            host = (route.get("spec") or {}).get("host")
            if not host:
                return nb
            patch = {"metadata": {"annotations": {
                LINK_ANNOTATION: f"https://{host}/notebook/{ns}/{name}/"}}}
            return await self.kube.json("PATCH", f"{NB.format(ns=ns)}/{name}",
                                        token=self.token, data=json.dumps(patch).encode(),
                                        headers={"Content-Type": MERGE_PATCH})
        except KubeError as exc:  # the link is a convenience: the status still answers
            self.plugin.log.info("notebook %s/%s: no link set (%s)", ns, name, exc.status)
            return nb


def _ready(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(s.get("ready") and (s.get("state") or {}).get("running")
                                  for s in statuses)


class NotebooksHandler(NotebookHandlerBase):
    async def post(self) -> None:
        """Start the Jupyter tile's notebook (`{state: "started", imageName, imageTagName,
        notebookSizeName, gpus?, envVars: {configMap, secrets}, username?}`): Role/RoleBinding
        with the SERVICE ACCOUNT (the one thing a user cannot grant themselves), then PVC,
        env Secret/ConfigMap and the Notebook with the caller's token. Answers the Notebook."""
        body = self.json_object()
        self.state(body, "started", "start")
        username = await self.target_user(body)
        n = names_for(username)
        ns = await self.notebook_namespace()
        spec = await self.spec()
        size = self.size(spec, body.get("notebookSizeName"))
        gpus = body.get("gpus") or 0
        if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= MAX_GPUS:
            raise ApiError(400, f"gpus must be a whole number from 0 to {MAX_GPUS}")
        env = body.get("envVars") or {}
        if not isinstance(env, dict):
            raise ApiError(400, "envVars must be an object")
        cm_env, secret_env = _env_map(env.get("configMap"), "configMap"), \
            _env_map(env.get("secrets"), "secrets")
        image_url, selection = await self.image(body.get("imageName"), body.get("imageTagName"))

        await self.ensure_rbac(ns, n, username)
        await self.ensure_pvc(ns, n["pvc"], spec)
        await self.ensure_env(ns, n["env"], "secrets", secret_env)
        await self.ensure_env(ns, n["env"], "configmaps", cm_env)
        nb = assemble(ns, n, username, self.origin(), size, selection, image_url, gpus,
                      (spec.get("notebookController") or {}).get("notebookTolerationSettings"),
                      cm_env, secret_env)
        path = f"{NB.format(ns=ns)}/{n['notebook']}"
        try:
            await self.kube.json("GET", path, token=self.token)
        except KubeError as exc:
            if exc.status != 404:
                raise
            created = await call(self.kube, "POST", NB.format(ns=ns), NB_KIND,
                                 token=self.token, json=nb)
            self.write_json(created)
            return
        self.write_json(await self.kube.json("PATCH", path, token=self.token,
                                             data=json.dumps(nb).encode(),
                                             headers={"Content-Type": MERGE_PATCH}))

    async def patch(self) -> None:
        """Stop the notebook (`{state: "stopped", username?}`): the kubeflow stop annotation,
        merge-patched with the caller's token. Answers the Notebook."""
        body = self.json_object()
        self.state(body, "stopped", "stop")
        username = await self.target_user(body)
        ns = await self.notebook_namespace()
        name = names_for(username)["notebook"]
        patch = {"metadata": {"annotations": {STOP_ANNOTATION: now_stamp()}}}
        self.write_json(await call(self.kube, "PATCH", f"{NB.format(ns=ns)}/{name}", NB_KIND,
                                   token=self.token, data=json.dumps(patch).encode(),
                                   headers={"Content-Type": MERGE_PATCH}))

    def origin(self) -> str:
        origin = self.request.headers.get("Origin", "")
        parsed = urlparse(origin)
        return origin if parsed.scheme in ("http", "https") and parsed.netloc else ""

    @staticmethod
    def size(spec: dict[str, Any], name: Any) -> dict[str, Any]:
        sizes = spec.get("notebookSizes") or DEFAULT_SIZES
        for size in sizes:
            if isinstance(size, dict) and size.get("name") == name:
                return size
        raise ApiError(400, f"Error getting notebook size for {name}")

    async def image(self, name: Any, tag: Any) -> tuple[str, str]:
        """The notebook image catalog (ImageStreams labelled `opendatahub.io/notebook-image`
        in the dashboard namespace), read with the SERVICE ACCOUNT: public image names."""
        check_subdomain(name, "imageName")
        if not isinstance(tag, str) or not IMAGE_TAG.match(tag):
            raise ApiError(400, "imageTagName is not a valid image tag")
        try:
            stream = await call(
                self.kube, "GET", f"{IMAGESTREAMS.format(ns=self.dashboard_namespace)}/{name}",
                "OpenShift ImageStreams (image.openshift.io/v1)", token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                raise ApiError(400, f"Error getting the image for {name}:{tag}: no such "
                               "notebook image") from None
            raise
        labels = (stream.get("metadata") or {}).get("labels") or {}
        tags = [t.get("name") for t in (stream.get("spec") or {}).get("tags") or []
                if isinstance(t, dict)]
        repo = (stream.get("status") or {}).get("dockerImageRepository")
        if labels.get(NOTEBOOK_IMAGE_LABEL) != "true" or tag not in tags or not repo:
            raise ApiError(400, f"Error getting the image for {name}:{tag}")
        return f"{repo}:{tag}", f"{name}:{tag}"

    async def ensure_rbac(self, ns: str, n: dict[str, str], username: str) -> None:
        """Role + RoleBinding `<notebook>-notebook-view` for `username`, by name only, written
        with the SERVICE ACCOUNT (a user cannot grant themselves access); callers have checked
        that `username` is the caller or that the caller is an admin."""
        role_name = f"{n['notebook']}-notebook-view"
        labels = {"opendatahub.io/dashboard": "true"}
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": role_name, "labels": labels},
                "rules": [
                    {"apiGroups": ["kubeflow.org"], "resources": ["notebooks"],
                     "resourceNames": [n["notebook"]], "verbs": ["get", "update", "patch"]},
                    {"apiGroups": [""], "resources": ["persistentvolumeclaims"],
                     "resourceNames": [n["pvc"]], "verbs": ["get"]},
                    {"apiGroups": [""], "resources": ["secrets", "configmaps"],
                     "resourceNames": [n["env"]], "verbs": ["get", "update", "patch"]}]}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": role_name, "labels": labels},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": role_name},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                 "name": username}]}
        base = RBAC.format(ns=ns)
        for kind, obj in (("roles", role), ("rolebindings", binding)):
            try:
                await self.kube.json("POST", f"{base}/{kind}", token=SERVICE_ACCOUNT, json=obj)
            except KubeError as exc:
                if exc.status != 409:
                    raise
                await self.kube.json("PUT", f"{base}/{kind}/{role_name}", token=SERVICE_ACCOUNT,
                                     json=obj)

    async def ensure_pvc(self, ns: str, name: str, spec: dict[str, Any]) -> None:
        """The notebook's PVC, read and (when missing) created with the caller's token."""
        path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
        try:
            await self.kube.json("GET", f"{path}/{name}", token=self.token)
            return
        except KubeError as exc:
            if exc.status != 404:
                raise
        size = (spec.get("notebookController") or {}).get("pvcSize") or f"{DEFAULT_PVC_SIZE_GI}Gi"
        await self.kube.json("POST", path, token=self.token, json={
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"opendatahub.io/dashboard": "true"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
                     "resources": {"requests": {"storage": str(size)}}}})

    async def ensure_env(self, ns: str, name: str, plural: str, values: dict[str, str]) -> None:
        """The env Secret/ConfigMap, replaced when it exists and created when it does not
        (and there is something to hold), with the caller's token (old verifyEnvVars)."""
        path = f"/api/v1/namespaces/{ns}/{plural}"
        obj: dict[str, Any] = {"apiVersion": "v1", "metadata": {
            "name": name, "namespace": ns, "labels": {"opendatahub.io/dashboard": "true"}}}
        if plural == "secrets":
            obj.update(kind="Secret", type="Opaque", stringData=values)
        else:
            obj.update(kind="ConfigMap", data=values)
        try:
            await self.kube.json("GET", f"{path}/{name}", token=self.token)
        except KubeError as exc:
            if exc.status != 404:
                raise
            if values:
                await self.kube.json("POST", path, token=self.token, json=obj)
            return
        await self.kube.json("PUT", f"{path}/{name}", token=self.token, json=obj)


def assemble(ns: str, n: dict[str, str], username: str, url: str, size: dict[str, Any],
             selection: str, image_url: str, gpus: int, toleration: Any,
             cm_env: dict[str, str], secret_env: dict[str, str]) -> dict[str, Any]:
    """The Notebook object the old backend's assembleNotebook built."""
    name, user = n["notebook"], n["user"]
    resources = json.loads(json.dumps(size.get("resources") or {}))
    tolerations: list[dict[str, Any]] = []
    affinity: dict[str, Any] = {}
    if gpus > 0:
        resources.setdefault("limits", {})[GPU] = gpus
        resources.setdefault("requests", {})[GPU] = gpus
        tolerations.append({"effect": "NoSchedule", "key": GPU, "operator": "Exists"})
    else:
        affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 1, "preference": {"matchExpressions": [{
                "key": "nvidia.com/gpu.present", "operator": "NotIn", "values": ["true"]}]}}]}}
    if isinstance(toleration, dict) and toleration.get("enabled") and toleration.get("key"):
        tolerations.append({"effect": "NoSchedule", "key": toleration["key"],
                            "operator": "Exists"})
    if resources.get("requests") and not resources.get("limits"):
        resources["limits"] = resources["requests"]
    env = [
        {"name": "NOTEBOOK_ARGS", "value": "\n".join([
            "--ServerApp.port=8888", "--ServerApp.token=''", "--ServerApp.password=''",
            f"--ServerApp.base_url=/notebook/{ns}/{name}", "--ServerApp.quit_button=False",
            "--ServerApp.tornado_settings=" + json.dumps(
                {"user": user, "hub_host": url, "hub_prefix": f"/notebookController/{user}"},
                separators=(",", ":"))])},
        {"name": "JUPYTER_IMAGE", "value": image_url},
        *({"name": k, "valueFrom": {"configMapKeyRef": {"key": k, "name": n["env"]}}}
          for k in cm_env),
        *({"name": k, "valueFrom": {"secretKeyRef": {"key": k, "name": n["env"]}}}
          for k in secret_env),
        {"name": "JUPYTER_NOTEBOOK_PORT", "value": "8888"},
    ]
    probe = {"initialDelaySeconds": 10, "periodSeconds": 5, "timeoutSeconds": 1,
             "successThreshold": 1, "failureThreshold": 3,
             "httpGet": {"scheme": "HTTP", "path": f"/notebook/{ns}/{name}/api",
                         "port": "notebook-port"}}
    return {
        "apiVersion": "kubeflow.org/v1", "kind": "Notebook",
        "metadata": {
            "name": name, "namespace": ns,
            "labels": {"app": name, "opendatahub.io/odh-managed": "true",
                       "opendatahub.io/user": user, "opendatahub.io/dashboard": "true"},
            "annotations": {
                "notebooks.opendatahub.io/oauth-logout-url":
                    f"{url}/notebookController/{user}/home",
                "notebooks.opendatahub.io/last-size-selection": size.get("name"),
                "notebooks.opendatahub.io/last-image-selection": selection,
                "notebooks.opendatahub.io/inject-oauth": "true",
                "opendatahub.io/username": username,
                STOP_ANNOTATION: None}},
        "spec": {"template": {"spec": {
            "affinity": affinity, "enableServiceLinks": False, "tolerations": tolerations,
            "volumes": [{"name": n["pvc"], "persistentVolumeClaim": {"claimName": n["pvc"]}}],
            "containers": [{
                "name": name, "image": image_url, "imagePullPolicy": "Always",
                "workingDir": MOUNT_PATH, "env": env, "resources": resources,
                "volumeMounts": [{"mountPath": MOUNT_PATH, "name": n["pvc"]}],
                "ports": [{"name": "notebook-port", "containerPort": 8888, "protocol": "TCP"}],
                "livenessProbe": probe, "readinessProbe": probe}]}}}}


class EnvHandler(DashboardHandler):
    async def get(self, kind: str, ns: str, name: str) -> None:
        """The env Secret or ConfigMap, read with the caller's token: a caller who may not
        read it gets the API server's 403."""
        check_label(ns, "namespace")
        check_subdomain(name, "name")
        plural = {"secret": "secrets", "configmap": "configmaps"}[kind]
        self.write_json(await self.kube.json(
            "GET", f"/api/v1/namespaces/{ns}/{plural}/{name}", token=self.token))


class RouteHandler(DashboardHandler):
    async def get(self, ns: str, name: str) -> None:
        """The OpenShift Route, read with the caller's token (404 when Routes are not
        served)."""
        check_label(ns, "namespace")
        check_subdomain(name, "route name")
        self.write_json(await call(self.kube, "GET", f"{ROUTES.format(ns=ns)}/{name}",
                                   ROUTE_KIND, token=self.token))


class AllowedUsersHandler(NotebookHandlerBase):
    @requires("admin")
    async def get(self, ns: str) -> None:
        """`[{username, privilege: "Admin"|"User", lastActivity}]`: members of the admin and
        allowed groups (`spec.groupsConfig`, OpenShift Groups) and users with a notebook in
        `ns`. Admin only; Notebooks and Groups read with the SERVICE ACCOUNT after the admin
        check."""
        check_label(ns, "namespace")
        nbs = await call(self.kube, "GET", NB.format(ns=ns), NB_KIND, token=SERVICE_ACCOUNT)
        activity: dict[str, str] = {}
        for nb in nbs.get("items") or []:
            ann = (nb.get("metadata") or {}).get("annotations") or {}
            user = ann.get("opendatahub.io/username")
            last = ann.get("notebooks.kubeflow.org/last-activity") or ann.get(STOP_ANNOTATION)
            if user and last:
                activity[user] = last
        groups = (await self.spec()).get("groupsConfig") or {}
        admins = await self.members(groups.get("adminGroups"))
        allowed = await self.members(groups.get("allowedGroups"))
        out: dict[str, dict[str, Any]] = {}
        for users, privilege in ((list(activity), "User"), (allowed, "User"),
                                 (admins, "Admin")):
            for user in users:
                out[user] = {"username": user, "privilege": privilege,
                             "lastActivity": activity.get(user)}
        self.write_json(list(out.values()))

    async def members(self, groups: Any) -> list[str]:
        names = [g.strip() for g in groups.split(",")] if isinstance(groups, str) else []
        users: list[str] = []
        for group in names:
            if not group or group == "system:authenticated":
                continue
            try:
                check_subdomain(group, "group")
                obj = await self.kube.json("GET", f"{GROUPS}/{group}", token=SERVICE_ACCOUNT)
            except (KubeError, ApiError):  # a missing group or Group kind: no members
                continue
            users.extend(u for u in obj.get("users") or [] if isinstance(u, str))
        return users


_OBJ: dict[str, Any] = {"type": "object", "additionalProperties": True}
_NB_DATA = {"type": "object", "properties": {
    "state": {"type": "string", "enum": ["started", "stopped"]},
    "username": {"type": "string"}, "imageName": {"type": "string"},
    "imageTagName": {"type": "string"}, "notebookSizeName": {"type": "string"},
    "gpus": {"type": "integer"}, "envVars": {"type": "object"}}}


def notebook_routes() -> list[Route]:
    return [
        Route(r"/api/notebooks", NotebooksHandler, request_body=_NB_DATA,
              description="Start (POST, state started) or stop (PATCH, state stopped) your "
              "Jupyter tile notebook, as you (another user's: admin).", responses={200: _OBJ}),
        Route(r"/api/notebooks/([^/]+)/([^/]+)", NotebookHandler,
              params=("namespace", "name"), description="A Notebook, read as you.",
              responses={200: _OBJ}),
        Route(r"/api/notebooks/([^/]+)/([^/]+)/status", NotebookStatusHandler,
              params=("namespace", "name"),
              description="A Notebook and whether it runs: {notebook, isRunning, podUID}.",
              responses={200: {"type": "object", "properties": {
                  "notebook": _OBJ, "isRunning": {"type": "boolean"},
                  "podUID": {"type": "string"}}}}),
        Route(r"/api/envs/(secret|configmap)/([^/]+)/([^/]+)", EnvHandler,
              params=("kind", "namespace", "name"),
              description="A notebook env Secret or ConfigMap, read as you.",
              responses={200: _OBJ}),
        Route(r"/api/route/([^/]+)/([^/]+)", RouteHandler, params=("namespace", "name"),
              description="An OpenShift Route, read as you.", responses={200: _OBJ}),
        Route(r"/api/status/([^/]+)/allowedUsers", AllowedUsersHandler, params=("namespace",),
              description="Allowed users and their last notebook activity (admin).",
              responses={200: {"type": "array", "items": {"type": "object", "properties": {
                  "username": {"type": "string"}, "privilege": {"type": "string"},
                  "lastActivity": {"type": ["string", "null"]}}}}}),
    ]
