"""`/api/namespaces`: the projects a user may see, create, delete and label for the dashboard.

RBAC stays the cluster's: listing, creating and deleting use the user's own token, so the API
server decides (its 403 `Status` comes back as the error). Labelling (`/:name/:context`) is a
patch with the service account, done only after an access review with the user's token said
the user may `update` or `patch` that namespace (the old backend's rule).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError

from .base import DashboardHandler
from .defaults import DASHBOARD_LABEL
from .names import check_label, is_system_namespace

PROJECTS = "/apis/project.openshift.io/v1/projects"
PROJECT_REQUESTS = "/apis/project.openshift.io/v1/projectrequests"
NAMESPACES = "/api/v1/namespaces"
REQUESTER = "openshift.io/requester"
DISPLAY_NAME = "openshift.io/display-name"
DESCRIPTION = "openshift.io/description"
NIM_ANNOTATION = "opendatahub.io/nim-support"
MODELMESH_LABEL = "modelmesh-enabled"
REVIEW_CONCURRENCY = 16

# GET /api/namespaces/:name/:context -> (labels, annotations) merged into the namespace; None
# removes a key. Numbers as the old backend's NamespaceApplicationCase (COMPAT.md §1).
CONTEXTS: dict[str, tuple[dict[str, str | None], dict[str, str | None]]] = {
    "0": ({DASHBOARD_LABEL: "true"}, {}),                                  # created by dashboard
    "1": ({MODELMESH_LABEL: "false"}, {}),                                 # KServe promotion
    "2": ({MODELMESH_LABEL: "false"}, {NIM_ANNOTATION: "true"}),           # KServe NIM
    "3": ({MODELMESH_LABEL: None}, {NIM_ANNOTATION: None}),                # reset platform
}


def shown(ns: dict[str, Any], username: str) -> bool:
    """The old backend's filter: the dashboard's projects, or ones the user requested."""
    meta = ns.get("metadata") or {}
    return (meta.get("labels") or {}).get(DASHBOARD_LABEL) == "true" or \
        (meta.get("annotations") or {}).get(REQUESTER) == username


def refuse_system(name: str) -> None:
    if is_system_namespace(name):
        raise ApiError(400, "Cannot mutate namespaces starting with openshift and kube",
                       error="Forbidden namespace")


class NamespacesHandler(DashboardHandler):
    async def get(self) -> None:
        """Namespaces the user may see, filtered to the dashboard's and the user's own.

        As the user: list `namespaces`; if that is forbidden, OpenShift's `projects` (which
        lists exactly what the user may see); on plain Kubernetes without `projects`, the
        dashboard-labelled namespaces (listed with the service account, a read) each kept only
        if an access review with the user's token allows `get` on it.
        """
        user = self.identity.username
        source = "namespaces"
        try:
            items = (await self.kube.json("GET", NAMESPACES, token=self.token))["items"]
        except KubeError as exc:
            if exc.status != 403:
                raise
            try:
                items = (await self.kube.json("GET", PROJECTS, token=self.token))["items"]
                source = "projects"
            except KubeError as pexc:
                if pexc.status != 404:
                    raise
                items, source = await self._reviewed(), "access-review"
        items = [ns for ns in items if shown(ns, user)]
        items.sort(key=lambda ns: ns["metadata"]["name"])
        self.ok({"items": items, "source": source})

    async def _reviewed(self) -> list[dict[str, Any]]:
        candidates = (await self.kube.json("GET", NAMESPACES, token=SERVICE_ACCOUNT))["items"]
        candidates = [ns for ns in candidates if shown(ns, self.identity.username)]
        gate = asyncio.Semaphore(REVIEW_CONCURRENCY)
        token = self.token

        async def may_get(ns: dict[str, Any]) -> bool:
            name = ns["metadata"]["name"]
            async with gate:
                return await self.kube.access_review(token, verb="get", resource="namespaces",
                                                     name=name, namespace=name)

        allowed = await asyncio.gather(*(may_get(ns) for ns in candidates))
        return [ns for ns, ok in zip(candidates, allowed) if ok]


class NamespaceHandler(DashboardHandler):
    async def post(self, name: str) -> None:
        """Create a project with the dashboard label, as the user. Optional body
        `{displayName, description}`. Where users may not create namespaces directly but
        OpenShift's ProjectRequest exists, a ProjectRequest is made (also as the user) and the
        new namespace labelled by the SERVICE ACCOUNT after the user's access review (as for
        context 0: a project admin may not label the Namespace)."""
        check_label(name, "namespace name")
        refuse_system(name)
        body = self.json_object() if self.request.body else {}
        annotations = {REQUESTER: self.identity.username}
        for key, ann in (("displayName", DISPLAY_NAME), ("description", DESCRIPTION)):
            value = body.get(key)
            if value is not None:
                if not isinstance(value, str) or len(value) > 1024:
                    raise ApiError(400, f"{key} must be a string of at most 1024 characters")
                annotations[ann] = value
        ns = {"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": name, "labels": {DASHBOARD_LABEL: "true"},
                           "annotations": annotations}}
        try:
            created = await self.kube.json("POST", NAMESPACES, token=self.token, json=ns)
        except KubeError as exc:
            if exc.status != 403:
                raise
            created = await self._project_request(name, body, exc)
        self.ok(created, 201)

    async def _project_request(self, name: str, body: dict[str, Any],
                               denied: KubeError) -> dict[str, Any]:
        req: dict[str, Any] = {"apiVersion": "project.openshift.io/v1", "kind": "ProjectRequest",
                               "metadata": {"name": name}}
        if body.get("displayName"):
            req["displayName"] = body["displayName"]
        if body.get("description"):
            req["description"] = body["description"]
        try:
            await self.kube.json("POST", PROJECT_REQUESTS, token=self.token, json=req)
        except KubeError as exc:
            if exc.status == 404:
                raise denied from None  # not OpenShift: the namespace 403 is the answer
            raise
        # Its admin may not label the Namespace on OpenShift: as for context 0 (below).
        return await patch_after_review(self, name, {"labels": {DASHBOARD_LABEL: "true"}})

    async def delete(self, name: str) -> None:
        """Delete a namespace, as the user (the API server's 403 comes back unchanged)."""
        check_label(name, "namespace name")
        refuse_system(name)
        if name == self.dashboard_namespace:
            raise ApiError(400, "the dashboard's own namespace cannot be deleted here")
        await self.kube.json("DELETE", f"{NAMESPACES}/{name}", token=self.token)
        self.ok({"name": name, "deleted": True})


class NamespaceContextHandler(DashboardHandler):
    async def get(self, name: str, context: str) -> None:
        """Label/annotate a project for a dashboard use: 0 created by the dashboard, 1 KServe,
        2 KServe with NIM, 3 reset the serving platform. The user's own access review
        (`update` or `patch` on the namespace, or on the OpenShift project of that name, which
        is what a project admin holds) comes first; the merge patch is then made with
        the SERVICE ACCOUNT (namespace-scoped, this one namespace), as the old backend did,
        because project admins on OpenShift may not patch their Namespace object directly.
        `?dryRun=All` is passed through. Answers `{applied: true}`."""
        refuse_system(name)
        check_label(name, "namespace name")
        change = CONTEXTS.get(context)
        if change is None:
            raise ApiError(400, f"unknown context {context!r}: use 0, 1, 2 or 3",
                           error="Unknown configuration")
        dry_run = self.get_query_argument("dryRun", None)
        if dry_run not in (None, "All"):
            raise ApiError(400, "dryRun must be All")
        labels, annotations = change
        meta: dict[str, Any] = {"labels": labels}
        if annotations:
            meta["annotations"] = annotations
        await patch_after_review(self, name, meta, dry_run)
        self.write_json({"applied": True})


async def patch_after_review(handler: DashboardHandler, name: str, meta: dict[str, Any],
                             dry_run: str | None = None) -> dict[str, Any]:
    """Merge-patch the Namespace's metadata with the SERVICE ACCOUNT once the user's own access
    review allows `update` or `patch` on the namespace or on its OpenShift project."""
    checks = await asyncio.gather(*(
        handler.kube.access_review(handler.token, verb=verb, group=group, resource=resource,
                                   name=name, namespace=name)
        for group, resource in (("", "namespaces"), ("project.openshift.io", "projects"))
        for verb in ("update", "patch")))
    if not any(checks):
        raise ApiError(403, f"You don't have the access to update the namespace {name}",
                       error="Forbidden")
    return await handler.kube.json(
        "PATCH", f"{NAMESPACES}/{name}", token=SERVICE_ACCOUNT,
        params={"dryRun": dry_run} if dry_run else None,
        data=json.dumps({"metadata": meta}).encode(),
        headers={"Content-Type": "application/merge-patch+json"})
