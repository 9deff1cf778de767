"""OpenShift's project and user APIs, served the way OpenShift serves them.

- `project.openshift.io/v1` `projects` are not stored: each is a view of a Namespace. A
  caller lists and watches only the namespaces they may `get` (OpenShift's project
  authorization cache asks exactly that), so alice sees her project and nothing else; a
  watch follows RBAC changes too (a new RoleBinding makes a project appear, as ADDED).
  `get`/`update`/`patch`/`delete` are authorised against `projects` in the project's own
  namespace; an update changes only the namespace's labels and annotations.
- `projectrequests` (create) make a namespace stamped `openshift.io/requester` (+ display
  name and description) and, as OpenShift's default project template does, the RoleBinding
  `admin` giving the requester the `admin` ClusterRole there. `list` answers a Status
  Success when the caller may request projects (how `oc` asks "may I self-provision?").
- `user.openshift.io/v1` `users`: `~` is the caller (who am I); other names are the seed
  users of the token file, readable with `get users`.
"""
from __future__ import annotations

import contextlib
import copy
import json
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import errors
from .errors import KubeError, bad_request
from .rbac import Attributes, UserInfo
from .resources import Registry, ResourceType
from .selectors import make_filter
from .store import NS_KEY, RBAC_GROUP, Event, Store
from .watch import Watcher

if TYPE_CHECKING:
    from .handlers import KubeHandler, Target

PROJECT_GROUP = "project.openshift.io"
USER_GROUP = "user.openshift.io"
PROJECTS = (PROJECT_GROUP, "projects")
PROJECT_REQUESTS = (PROJECT_GROUP, "projectrequests")
USERS = (USER_GROUP, "users")
REQUESTER = "openshift.io/requester"
DISPLAY_NAME = "openshift.io/display-name"
DESCRIPTION = "openshift.io/description"


def types() -> list[ResourceType]:
    """The OpenShift kinds this module answers (never stored: `virtual`)."""
    return [
        ResourceType(PROJECT_GROUP, ("v1",), "projects", "Project", False, "project",
                     verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
                     virtual=True),
        ResourceType(PROJECT_GROUP, ("v1",), "projectrequests", "ProjectRequest", False,
                     "projectrequest", verbs=("create", "list"), virtual=True),
        ResourceType(USER_GROUP, ("v1",), "users", "User", False, "user",
                     verbs=("get", "list"), virtual=True),
    ]


def register(registry: Registry) -> None:
    for rt in types():
        registry.add(rt)


def serves(rt: ResourceType) -> bool:
    return rt.virtual and rt.key in (PROJECTS, PROJECT_REQUESTS, USERS)


def project_of(ns: dict[str, Any]) -> dict[str, Any]:
    """The Project view of a Namespace (same metadata, spec and status)."""
    return {"kind": "Project", "apiVersion": f"{PROJECT_GROUP}/v1",
            "metadata": ns["metadata"],
            "spec": ns.get("spec") or {"finalizers": ["kubernetes"]},
            "status": ns.get("status") or {"phase": "Active"}}


def may_see(authz: Any, user: UserInfo, namespace: str) -> bool:
    """OpenShift's project authorization cache: who may `get` the namespace."""
    return authz.authorize(Attributes(user, "get", True, "", "namespaces", "", namespace,
                                      namespace))[0]


class ProjectWatcher(Watcher):
    """A watch of the caller's projects: Namespace events filtered by what the caller may
    see, re-evaluated whenever RBAC changes (visibility gained: ADDED, lost: DELETED)."""

    def __init__(self, store: Store, rt: ResourceType, visible: Callable[[str], bool],
                 pred: Callable[[dict[str, Any]], bool] | None, path: str) -> None:
        super().__init__(store, rt, None, pred, path)
        self.ns_rt = store.registry.types[NS_KEY]
        self.visible = visible
        self.shown: set[str] = set()

    def _ok(self, ns: dict[str, Any]) -> bool:
        return self.visible(ns["metadata"]["name"]) and (self.pred is None or self.pred(ns))

    def _push(self, etype: str, ns: dict[str, Any]) -> None:
        name = ns["metadata"]["name"]
        if etype == "DELETED":
            self.shown.discard(name)
        else:
            self.shown.add(name)
        self.items.append((etype, project_of(ns)))
        self.wakeup.set()

    def _diff(self, ns: dict[str, Any], deleted: bool = False) -> None:
        name = ns["metadata"]["name"]
        now = not deleted and self._ok(ns)
        if now:
            self._push("MODIFIED" if name in self.shown else "ADDED", ns)
        elif name in self.shown:
            self._push("DELETED", ns)

    def on_event(self, ev: Event) -> None:
        if self.closed:
            return
        if ev.key == NS_KEY:
            self._diff(ev.obj, ev.type == "DELETED")
        elif ev.key[0] == RBAC_GROUP:
            for ns in self.store.iter_sorted(self.ns_rt, None):
                name = ns["metadata"]["name"]
                if self._ok(ns) != (name in self.shown):
                    self._diff(ns)

    def start(self, from_rv: int | None) -> int | None:
        if from_rv is not None and from_rv < self.store.compacted_rv:
            return from_rv
        self.store.subscribe(self.on_event)
        if from_rv is None:
            for ns in self.store.iter_sorted(self.ns_rt, None):
                if self._ok(ns):
                    self._push("ADDED", ns)
            return None
        # Resuming: the caller has what it may see now; replay the namespace changes since.
        self.shown = {ns["metadata"]["name"] for ns in self.store.iter_sorted(self.ns_rt, None)
                      if self._ok(ns)}
        for ev in self.store.history:
            if ev.rv > from_rv and ev.key == NS_KEY:
                name = ev.obj["metadata"]["name"]
                if ev.type == "DELETED":
                    self.items.append(("DELETED", project_of(ev.obj)))
                elif name in self.shown:
                    self.items.append((ev.type, project_of(ev.obj)))
        return None


@contextlib.contextmanager
def _as_project(name: str) -> Iterator[None]:
    """Errors about the namespace behind a project name the project, as OpenShift does."""
    try:
        yield
    except KubeError as e:
        if e.code == 404:
            raise errors.not_found("projects", PROJECT_GROUP, name) from None
        if e.code == 409:
            raise errors.already_exists("projects", PROJECT_GROUP, name) from None
        raise


class OpenShiftApi:
    """Answers one request for a type `serves()` accepts, inside the KubeHandler."""

    def __init__(self, handler: KubeHandler, user: UserInfo, target: Target) -> None:
        self.h = handler
        self.srv = handler.srv
        self.user = user
        self.t = target
        self.ns_rt = self.srv.store.registry.types[NS_KEY]

    def _authorize(self, verb: str, resource: str, group: str, namespace: str = "",
                   name: str = "") -> None:
        attrs = Attributes(self.user, verb, True, group, resource, "", namespace, name)
        if not self.srv.authz.authorize(attrs)[0]:
            raise errors.forbidden(resource, group, name or None, self.user.username, verb,
                                   namespace or None)

    def _args(self) -> dict[str, str]:
        return {k: self.h.get_query_argument(k) for k in self.h.request.query_arguments}

    def _dry_run(self) -> bool:
        return (self.h.get_query_argument("dryRun", None) or "") == "All"

    async def serve(self, method: str, accept: str) -> None:
        key = self.t.rt.key
        verb = self.h._verb(self.t, method)
        if verb not in self.t.rt.verbs or self.t.subresource:
            raise KubeError(405, "the server does not allow this method on the requested "
                                 "resource", "MethodNotAllowed")
        if key == USERS:
            self._users(verb)
        elif key == PROJECT_REQUESTS:
            self._project_requests(verb)
        else:
            await self._projects(verb, method, accept)

    # -- users ---------------------------------------------------------------------
    def _user_obj(self, username: str, groups: list[str]) -> dict[str, Any]:
        return {"kind": "User", "apiVersion": f"{USER_GROUP}/v1",
                "metadata": {"name": username, "uid": f"uid-{username}",
                             "creationTimestamp": None},
                "identities": [], "groups": groups}

    def _seed_users(self) -> dict[str, UserInfo]:
        return {u.username: u for u in self.srv.authn.static.values()}

    def _users(self, verb: str) -> None:
        name = self.t.name
        self._authorize(verb, "users", USER_GROUP, name=name)
        if verb == "list":
            items = [self._user_obj(u.username, []) for _, u in
                     sorted(self._seed_users().items())]
            self.h._send(200, {"kind": "UserList", "apiVersion": f"{USER_GROUP}/v1",
                               "metadata": {}, "items": items})
            return
        if name == "~":
            # Like OpenShift's virtual user for ~: the caller's groups come with it.
            self.h._send(200, self._user_obj(self.user.username, list(self.user.groups)))
            return
        if name not in self._seed_users():
            raise errors.not_found("users", USER_GROUP, name)
        self.h._send(200, self._user_obj(name, []))

    # -- project requests ----------------------------------------------------------
    def _project_requests(self, verb: str) -> None:
        self._authorize(verb, "projectrequests", PROJECT_GROUP)
        if verb == "list":
            self.h._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Success"})
            return
        body = self.h._body(self.t)
        if not isinstance(body, dict):
            raise bad_request("the object provided is unrecognized (must be of type "
                              "ProjectRequest)")
        name = (body.get("metadata") or {}).get("name") or ""
        annotations = {REQUESTER: self.user.username}
        for field_name, key in (("displayName", DISPLAY_NAME), ("description", DESCRIPTION)):
            value = body.get(field_name)
            if value not in (None, ""):
                if not isinstance(value, str):
                    raise bad_request(f"{field_name} must be a string")
                annotations[key] = value
        api = self.srv.api
        dry_run = self._dry_run()
        with _as_project(name):
            ns = api.create(self.ns_rt, "", "v1", {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "annotations": annotations}}, dry_run)
        if not dry_run:
            # OpenShift's default project template: the requester administers the project.
            rb_rt = self.srv.store.registry.types[(RBAC_GROUP, "rolebindings")]
            api.create(rb_rt, name, "v1", {
                "apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding",
                "metadata": {"name": "admin", "namespace": name},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "admin"},
                "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User",
                              "name": self.user.username}]}, False)
        self.h._send(201, project_of(ns))

    # -- projects ------------------------------------------------------------------
    async def _projects(self, verb: str, method: str, accept: str) -> None:
        name = self.t.name
        api = self.srv.api
        dry_run = self._dry_run()
        if verb in ("list", "watch"):
            self._authorize(verb, "projects", PROJECT_GROUP)
            args = self._args()
            if verb == "watch":
                await self.h._watch(self.t, args, accept, self._watcher)
                return
            pred = make_filter(args.get("labelSelector"), args.get("fieldSelector"),
                               "Namespace")
            items = [project_of(ns) for ns in self.srv.store.iter_sorted(self.ns_rt, None)
                     if may_see(self.srv.authz, self.user, ns["metadata"]["name"])
                     and (pred is None or pred(ns))]
            self.h._send(200, {"kind": "ProjectList", "apiVersion": f"{PROJECT_GROUP}/v1",
                               "metadata": {"resourceVersion":
                                            str(self.srv.store.resource_version)},
                               "items": items})
            return
        if verb == "create":  # cluster admins only, as on OpenShift (users: ProjectRequests)
            self._authorize(verb, "projects", PROJECT_GROUP)
            body = self.h._body(self.t)
            if not isinstance(body, dict):
                raise bad_request("the object provided is unrecognized (must be of type "
                                  "Project)")
            meta = body.get("metadata") or {}
            ns = api.create(self.ns_rt, "", "v1", {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}},
                dry_run)
            self.h._send(201, project_of(ns))
            return
        self._authorize(verb, "projects", PROJECT_GROUP, name, name)
        if verb == "get":
            with _as_project(name):
                self.h._send(200, project_of(api.get(self.ns_rt, "", name)))
        elif verb == "delete":
            api.delete(self.ns_rt, "", name, "v1", {}, dry_run)
            self.h._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Success", "details": {
                                   "name": name, "group": PROJECT_GROUP, "kind": "projects"}})
        elif verb == "update":
            self.h._send(200, project_of(self._update(self.h._body(self.t), dry_run)))
        else:  # patch: on the Project view, of which only labels and annotations persist
            current = project_of(api.get(self.ns_rt, "", name))
            patched = self._patched(current, self.h.request.headers.get("Content-Type", ""),
                                    self.h.request.body or b"")
            self.h._send(200, project_of(self._update(patched, dry_run)))

    def _update(self, body: Any, dry_run: bool) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise bad_request("the object provided is unrecognized (must be of type Project)")
        meta = body["metadata"]
        if meta.get("name") not in (None, self.t.name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match "
                              f"the name on the URL ({self.t.name})")
        old = self.srv.api.get(self.ns_rt, "", self.t.name)
        new = copy.deepcopy(old)
        new["metadata"]["labels"] = meta.get("labels") or {}
        new["metadata"]["annotations"] = meta.get("annotations") or {}
        if meta.get("resourceVersion"):
            new["metadata"]["resourceVersion"] = meta["resourceVersion"]
        return self.srv.api.replace(self.ns_rt, "", self.t.name, "v1", new, dry_run)

    @staticmethod
    def _patched(current: dict[str, Any], content_type: str, raw: bytes) -> dict[str, Any]:
        from .ops import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH
        from .patch import json_patch, merge_patch

        ctype = content_type.split(";")[0].strip().lower()
        try:
            patch = json.loads(raw or b"null")
        except ValueError as e:
            raise bad_request(f"error decoding patch: {e}") from None
        if ctype == JSON_PATCH:
            return json_patch(current, patch)
        if ctype in (MERGE_PATCH, STRATEGIC_PATCH):
            return merge_patch(current, patch)
        raise KubeError(415, "the body of the request was in an unknown format - accepted "
                             f"media types include: {JSON_PATCH}, {MERGE_PATCH}, "
                             f"{STRATEGIC_PATCH}", "UnsupportedMediaType")

    def _watcher(self, store: Store, rt: ResourceType, _namespace: str | None,
                 pred: Callable[[dict[str, Any]], bool] | None, path: str) -> Watcher:
        authz, user = self.srv.authz, self.user
        return ProjectWatcher(store, rt, lambda ns: may_see(authz, user, ns), pred, path)
