"""The Jupyter tile's routes (old backend: routes/api/notebooks, envs, route, status), with the
old shapes.

Who acts (see notebook_names.py for the names and the ownership rule):
- In the shared notebook namespace (`spec.notebookController.notebookNamespace`, else the
  dashboard namespace) plain users hold NO rights. odh-core's SERVICE ACCOUNT acts there for
  the caller, and only on the caller's own objects: the Notebook `jupyter-nb-<key>`, its PVC
  `jupyterhub-nb-<key>-pvc`, the env Secret/ConfigMap `jupyterhub-singleuser-profile-<key>-envs`
  and the Role/RoleBinding `jupyter-nb-<key>-notebook-view` (the user's `get` on their
  Notebook, which the notebook's oauth-proxy checks), where `<key>` is derived injectively from
  the caller's exact username. Objects it creates carry `opendatahub.io/username: <username>`;
  an existing object at the caller's name without that exact annotation is never adopted
  (409), so nobody can make another user's start merge into objects they prepared.
- A request for any other name (another user's notebook, another namespace) is made with the
  CALLER's token, so the API server's RBAC decides (admins read anyone's; others get 403).
- An admin may start or stop another user's notebook (`username` in the body, after the admin
  check); that is done with the ADMIN's own token, never the service account's.
- The service account also reads the notebook's pods (`notebook-name=<name>`, after the
  Notebook read succeeded: only a running flag and the pod uid leave), its Route's host (for the
  `opendatahub.io/link` annotation), the notebook image catalog (ImageStreams labelled
  `opendatahub.io/notebook-image`, public image names) and, for the admin-only allowed-users
  route, Notebooks and Groups.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, Route, requires

from .base import DashboardHandler
from .cr_calls import MERGE_PATCH, call
from .defaults import DEFAULT_PVC_SIZE_GI
from .names import check_label, check_subdomain
from .notebook_names import OWNER_ANNOTATION, NotebookNames, names_for, owner_meta
from .notebook_pod import PodOptions, from_pod_spec_options, from_size

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
MOUNT_PATH = "/opt/app-root/src"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,252}$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
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

    async def own(self, ns: str, requested: str, what: str = "notebook"
                  ) -> tuple[NotebookNames, str] | None:
        """(the caller's names, the object's real name) when `requested` in `ns` is the
        caller's own `what` ("notebook" or "env", by its old or its injective name)."""
        if ns != await self.notebook_namespace():
            return None
        names = names_for(self.identity.username)
        actual = names.resolve(requested, what)
        return (names, actual) if actual else None

    def actor(self, username: str) -> Any:
        """Who writes a user's objects: the SERVICE ACCOUNT for the caller's own, the caller's
        token when an admin acts for someone else (checked by target_user)."""
        return SERVICE_ACCOUNT if username == self.identity.username else self.token

    async def read_owned(self, path: str, names: NotebookNames, token: Any, what: str,
                         kind: str | None = None) -> dict[str, Any] | None:
        """The object at `path` if it is `names.username`'s, None when there is none; 409 when
        someone else's is there."""
        try:
            obj = await (call(self.kube, "GET", path, kind, token=token) if kind else
                         self.kube.json("GET", path, token=token))
        except KubeError as exc:
            if exc.status != 404:
                raise
            return None
        return names.check_owner(obj, what)

    async def read_notebook(self, ns: str, name: str) -> tuple[dict[str, Any], Any]:
        """(the Notebook, the token that may act on it): the caller's own through the service
        account after the owner check, any other with the caller's token."""
        own = await self.own(ns, name)
        if own is None:
            return await call(self.kube, "GET", f"{NB.format(ns=ns)}/{name}", NB_KIND,
                              token=self.token), self.token
        names, actual = own
        nb = await self.read_owned(f"{NB.format(ns=ns)}/{actual}", names, SERVICE_ACCOUNT,
                                   "Notebook", NB_KIND)
        if nb is None:
            raise ApiError(404, f'notebooks.kubeflow.org "{name}" not found')
        return nb, SERVICE_ACCOUNT


class NotebookHandler(NotebookHandlerBase):
    async def get(self, ns: str, name: str) -> None:
        """The Notebook: the caller's own through the service account (owner checked), any
        other with the caller's token."""
        check_label(ns, "namespace")
        check_subdomain(name, "notebook name")
        self.write_json((await self.read_notebook(ns, name))[0])


class NotebookStatusHandler(NotebookHandlerBase):
    async def get(self, ns: str, name: str) -> None:
        """`{notebook, isRunning, podUID}`. The Notebook is read as in GET (the caller's own
        through the service account, owner checked; any other with the caller's token); only
        then its pods (label `notebook-name`) and its Route's host are read with the SERVICE
        ACCOUNT; a missing link annotation is set by whoever read the Notebook."""
        check_label(ns, "namespace")
        check_subdomain(name, "notebook name")
        nb, token = await self.read_notebook(ns, name)
        name = nb["metadata"]["name"]
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
            nb = await self.set_link(nb, ns, name, token)
        self.write_json({"notebook": nb, "isRunning": running, "podUID": pod_uid})

    async def set_link(self, nb: dict[str, Any], ns: str, name: str, token: Any
                       ) -> dict[str, Any]:
        try:
            route = await self.kube.json("GET", f"{ROUTES.format(ns=ns)}/{name}",
                                         token=SERVICE_ACCOUNT)
            host = (route.get("spec") or {}).get("host")
            if not host:
                return nb
            patch = {"metadata": {"annotations": {
                LINK_ANNOTATION: f"https://{host}/notebook/{ns}/{name}/"}}}
            return await self.kube.json("PATCH", f"{NB.format(ns=ns)}/{name}",
                                        token=token, data=json.dumps(patch).encode(),
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
        podSpecOptions (or notebookSizeName + gpus), envVars: {configMap, secrets},
        storageClassName?, username?}`; notebook_pod.py): the
        Role/RoleBinding, PVC, env Secret/ConfigMap and Notebook of the caller, written by the
        SERVICE ACCOUNT (another user's, `username`: admins, with their own token); an
        existing object that is not the target user's is never adopted (409). Answers the
        Notebook."""
        body = self.json_object()
        self.state(body, "started", "start")
        username = await self.target_user(body)
        n = names_for(username)
        ns = await self.notebook_namespace()
        spec = await self.spec()
        if body.get("podSpecOptions") is not None:
            pod = from_pod_spec_options(body["podSpecOptions"])
        else:
            pod = from_size(self.size(spec, body.get("notebookSizeName")), body.get("gpus") or 0,
                            (spec.get("notebookController") or {})
                            .get("notebookTolerationSettings"))
        storage_class = body.get("storageClassName")
        if storage_class is not None:
            check_subdomain(storage_class, "storageClassName")
        env = body.get("envVars") or {}
        if not isinstance(env, dict):
            raise ApiError(400, "envVars must be an object")
        cm_env, secret_env = _env_map(env.get("configMap"), "configMap"), \
            _env_map(env.get("secrets"), "secrets")
        image_url, selection = await self.image(body.get("imageName"), body.get("imageTagName"))

        token = self.actor(username)
        path = f"{NB.format(ns=ns)}/{n.notebook}"
        # Every object is checked before any is written: a squatted name changes nothing.
        existing = await self.read_owned(path, n, token, "Notebook", NB_KIND)
        await self.ensure_rbac(ns, n, token)
        await self.ensure_pvc(ns, n, spec, token, storage_class)
        await self.ensure_env(ns, n, "secrets", secret_env, token)
        await self.ensure_env(ns, n, "configmaps", cm_env, token)
        nb = assemble(ns, n, self.origin(), pod, selection, image_url, cm_env, secret_env)
        if existing is None:
            self.write_json(await call(self.kube, "POST", NB.format(ns=ns), NB_KIND,
                                       token=token, json=nb))
            return
        patch = dict(nb, metadata=dict(nb["metadata"], resourceVersion=existing["metadata"]
                                       .get("resourceVersion")))
        self.write_json(await self.kube.json("PATCH", path, token=token,
                                             data=json.dumps(patch).encode(),
                                             headers={"Content-Type": MERGE_PATCH}))

    async def patch(self) -> None:
        """Stop the notebook (`{state: "stopped", username?}`): the kubeflow stop annotation,
        merge-patched by the SERVICE ACCOUNT on the caller's own Notebook (owner checked;
        another user's: admins, with their own token). Answers the Notebook."""
        body = self.json_object()
        self.state(body, "stopped", "stop")
        username = await self.target_user(body)
        ns = await self.notebook_namespace()
        n = names_for(username)
        token = self.actor(username)
        path = f"{NB.format(ns=ns)}/{n.notebook}"
        existing = await self.read_owned(path, n, token, "Notebook", NB_KIND)
        if existing is None:
            raise ApiError(404, f'notebooks.kubeflow.org "{n.notebook}" not found')
        patch = {"metadata": {"annotations": {STOP_ANNOTATION: now_stamp()},
                              "resourceVersion": existing["metadata"].get("resourceVersion")}}
        self.write_json(await call(self.kube, "PATCH", path, NB_KIND, token=token,
                                   data=json.dumps(patch).encode(),
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

    async def ensure_rbac(self, ns: str, n: NotebookNames, token: Any) -> None:
        """Role + RoleBinding `<notebook>-notebook-view`: `get` on the user's Notebook (what
        the notebook's oauth-proxy checks; the old backend's RBAC), by name only."""
        labels = {"opendatahub.io/dashboard": "true"}
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": owner_meta(n, n.role),
                "rules": [{"apiGroups": ["kubeflow.org"], "resources": ["notebooks"],
                           "resourceNames": [n.notebook], "verbs": ["get"]}]}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": owner_meta(n, n.role),
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": n.role},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                 "name": n.username}]}
        base = RBAC.format(ns=ns)
        for kind, obj, what in (("roles", role, "Role"), ("rolebindings", binding,
                                                          "RoleBinding")):
            obj["metadata"]["labels"] = labels
            old = await self.read_owned(f"{base}/{kind}/{n.role}", n, token, what)
            if old is None:
                await self.kube.json("POST", f"{base}/{kind}", token=token, json=obj)
            else:
                obj["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
                await self.kube.json("PUT", f"{base}/{kind}/{n.role}", token=token, json=obj)

    async def ensure_pvc(self, ns: str, n: NotebookNames, spec: dict[str, Any],
                         token: Any, storage_class: str | None = None) -> None:
        """The notebook's PVC: kept when it is the user's, created when missing."""
        path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
        if await self.read_owned(f"{path}/{n.pvc}", n, token, "PersistentVolumeClaim"):
            return
        size = (spec.get("notebookController") or {}).get("pvcSize") or f"{DEFAULT_PVC_SIZE_GI}Gi"
        await self.kube.json("POST", path, token=token, json={
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": owner_meta(n, n.pvc, ns),
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
                     "resources": {"requests": {"storage": str(size)}},
                     **({"storageClassName": storage_class} if storage_class else {})}})

    async def ensure_env(self, ns: str, n: NotebookNames, plural: str, values: dict[str, str],
                         token: Any) -> None:
        """The env Secret/ConfigMap: replaced when it is the user's, created when missing (and
        there is something to hold) - the old verifyEnvVars."""
        path = f"/api/v1/namespaces/{ns}/{plural}"
        obj: dict[str, Any] = {"apiVersion": "v1", "metadata": owner_meta(n, n.env, ns)}
        if plural == "secrets":
            obj.update(kind="Secret", type="Opaque", stringData=values)
        else:
            obj.update(kind="ConfigMap", data=values)
        old = await self.read_owned(f"{path}/{n.env}", n, token, obj["kind"])
        if old is None:
            if values:
                await self.kube.json("POST", path, token=token, json=obj)
            return
        obj["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
        await self.kube.json("PUT", f"{path}/{n.env}", token=token, json=obj)


def assemble(ns: str, n: NotebookNames, url: str, pod: PodOptions, selection: str,
             image_url: str, cm_env: dict[str, str], secret_env: dict[str, str]
             ) -> dict[str, Any]:
    """The Notebook object the old backend's assembleNotebook built."""
    name, user, username = n.notebook, n.user, n.username
    env = [
        {"name": "NOTEBOOK_ARGS", "value": "\n".join([
            "--ServerApp.port=8888", "--ServerApp.token=''", "--ServerApp.password=''",
            f"--ServerApp.base_url=/notebook/{ns}/{name}", "--ServerApp.quit_button=False",
            "--ServerApp.tornado_settings=" + json.dumps(
                {"user": user, "hub_host": url, "hub_prefix": f"/notebookController/{user}"},
                separators=(",", ":"))])},
        {"name": "JUPYTER_IMAGE", "value": image_url},
        *({"name": k, "valueFrom": {"configMapKeyRef": {"key": k, "name": n.env}}}
          for k in cm_env),
        *({"name": k, "valueFrom": {"secretKeyRef": {"key": k, "name": n.env}}}
          for k in secret_env),
        {"name": "JUPYTER_NOTEBOOK_PORT", "value": "8888"},
    ]
    annotations: dict[str, Any] = {
        "notebooks.opendatahub.io/oauth-logout-url": f"{url}/notebookController/{user}/home",
        "notebooks.opendatahub.io/last-size-selection": pod.size_name,
        "notebooks.opendatahub.io/last-image-selection": selection,
        "notebooks.opendatahub.io/inject-oauth": "true",
        "opendatahub.io/user": user,
        OWNER_ANNOTATION: username,
        STOP_ANNOTATION: None}
    if pod.profile_name:
        annotations["opendatahub.io/hardware-profile-name"] = pod.profile_name
        annotations["opendatahub.io/hardware-profile-namespace"] = pod.profile_namespace
    scheduling: dict[str, Any] = {"affinity": pod.affinity}
    if pod.tolerations is not None:
        scheduling["tolerations"] = pod.tolerations
    if pod.node_selector:
        scheduling["nodeSelector"] = pod.node_selector
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
            "annotations": annotations},
        "spec": {"template": {"spec": {
            **scheduling, "enableServiceLinks": False,
            "volumes": [{"name": n.pvc, "persistentVolumeClaim": {"claimName": n.pvc}},
                        {"name": "shm", "emptyDir": {"medium": "Memory"}}],
            "containers": [{
                "name": name, "image": image_url, "imagePullPolicy": "Always",
                "workingDir": MOUNT_PATH, "env": env, "resources": pod.resources,
                "volumeMounts": [{"mountPath": MOUNT_PATH, "name": n.pvc},
                                 {"mountPath": "/dev/shm", "name": "shm"}],
                "ports": [{"name": "notebook-port", "containerPort": 8888, "protocol": "TCP"}],
                "livenessProbe": probe, "readinessProbe": probe}]}}}}


class EnvHandler(NotebookHandlerBase):
    async def get(self, kind: str, ns: str, name: str) -> None:
        """The env Secret or ConfigMap: the caller's own through the service account (owner
        checked: 409 when someone else's sits at the caller's name), any other with the
        caller's token (a caller who may not read it gets the API server's 403)."""
        check_label(ns, "namespace")
        check_subdomain(name, "name")
        plural = {"secret": "secrets", "configmap": "configmaps"}[kind]
        path = f"/api/v1/namespaces/{ns}/{plural}"
        own = await self.own(ns, name, "env")
        if own is None:
            self.write_json(await self.kube.json("GET", f"{path}/{name}", token=self.token))
            return
        names, actual = own
        obj = await self.read_owned(f"{path}/{actual}", names, SERVICE_ACCOUNT,
                                    {"secret": "Secret", "configmap": "ConfigMap"}[kind])
        if obj is None:
            raise ApiError(404, f'{plural} "{name}" not found')
        self.write_json(obj)


class RouteHandler(NotebookHandlerBase):
    async def get(self, ns: str, name: str) -> None:
        """The OpenShift Route (404 when Routes are not served): of the caller's own notebook
        through the service account once the Notebook's owner is checked, any other with the
        caller's token."""
        check_label(ns, "namespace")
        check_subdomain(name, "route name")
        nb, token = (await self.read_notebook(ns, name)) if await self.own(ns, name) \
            else ({"metadata": {"name": name}}, self.token)
        self.write_json(await call(self.kube, "GET",
                                   f"{ROUTES.format(ns=ns)}/{nb['metadata']['name']}",
                                   ROUTE_KIND, token=token))


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
    "gpus": {"type": "integer"}, "envVars": {"type": "object"},
    "podSpecOptions": {"type": "object"}, "storageClassName": {"type": "string"}}}


def notebook_routes() -> list[Route]:
    return [
        Route(r"/api/notebooks", NotebooksHandler, request_body=_NB_DATA,
              description="Start (POST, state started) or stop (PATCH, state stopped) your "
              "Jupyter tile notebook: odh-core's service account writes your own objects in the "
              "notebook namespace (names from your exact username; objects someone else made "
              "there are never adopted: 409); another user's: admins, with their own token.",
              responses={200: _OBJ}),
        Route(r"/api/notebooks/([^/]+)/([^/]+)", NotebookHandler,
              params=("namespace", "name"), description="A Notebook: your own (Jupyter "
              "tile) through the service account, owner checked; any other read as you.",
              responses={200: _OBJ}),
        Route(r"/api/notebooks/([^/]+)/([^/]+)/status", NotebookStatusHandler,
              params=("namespace", "name"),
              description="A Notebook and whether it runs: {notebook, isRunning, podUID}; "
              "who reads it: as for GET /api/notebooks/{namespace}/{name}.",
              responses={200: {"type": "object", "properties": {
                  "notebook": _OBJ, "isRunning": {"type": "boolean"},
                  "podUID": {"type": "string"}}}}),
        Route(r"/api/envs/(secret|configmap)/([^/]+)/([^/]+)", EnvHandler,
              params=("kind", "namespace", "name"),
              description="A notebook env Secret or ConfigMap: your own through the "
              "service account, owner checked; any other read as you.",
              responses={200: _OBJ}),
        Route(r"/api/route/([^/]+)/([^/]+)", RouteHandler, params=("namespace", "name"),
              description="An OpenShift Route: your own notebook's through the service "
              "account, owner checked; any other read as you.", responses={200: _OBJ}),
        Route(r"/api/status/([^/]+)/allowedUsers", AllowedUsersHandler, params=("namespace",),
              description="Allowed users and their last notebook activity (admin).",
              responses={200: {"type": "array", "items": {"type": "object", "properties": {
                  "username": {"type": "string"}, "privilege": {"type": "string"},
                  "lastActivity": {"type": ["string", "null"]}}}}}),
    ]
