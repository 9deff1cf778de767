"""Watch-fed caches of the objects the dashboard's boot routes read (COMPAT.md §3 "Boot").

One `Informer` (informer.py: list, then watch with the service account, resume from the last
resourceVersion, relist on 410) per kind. The routes read these caches only: once a cache
has synced, answering a boot route costs no API call. `changes` counts every change any of
them saw (a cheap "something moved" signal for tests and for callers that memoise).
Each informer starts when a route first reads it (the frontend calls them all at boot), so
an app nobody opens the dashboard on holds no watches for it.

A kind whose CRD is not installed (404 on the list) counts as "synced, empty": that is a
definite answer (e.g. no NIM operator -> `/api/integrations/nim` says not installed).
"""
from __future__ import annotations

import asyncio
from typing import Any

from odh_core import ApiError, KubeClient

from .informer import Informer

# Group/version/plural of every kind the boot routes read.
DSC = ("datasciencecluster.opendatahub.io", "v2", "datascienceclusters")
DSCI = ("dscinitialization.opendatahub.io", "v2", "dscinitializations")
APPS = ("dashboard.opendatahub.io", "v1", "odhapplications")
QUICKSTARTS = ("console.openshift.io", "v1", "odhquickstarts")
CONSOLE_LINKS = ("console.openshift.io", "v1", "consolelinks")
BUILD_CONFIGS = ("build.openshift.io", "v1", "buildconfigs")
BUILDS = ("build.openshift.io", "v1", "builds")
NIM_ACCOUNTS = ("nim.opendatahub.io", "v1", "accounts")
ROUTES = ("route.openshift.io", "v1", "routes")

NOTEBOOK_IMAGE_BUILDS = "opendatahub.io/build_type=notebook_image"


def api_path(gvp: tuple[str, str, str], namespace: str | None = None) -> str:
    group, version, plural = gvp
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


class BootCaches:
    """The informers behind the boot routes, for one dashboard namespace."""

    def __init__(self, kube: KubeClient, namespace: str, *, segment_key_secret: str,
                 sync_timeout: float, watch_timeout: int):
        self.namespace = namespace
        self.sync_timeout = sync_timeout
        self.changes = 0
        self.started = False

        def informer(path: str, **selectors: str) -> Informer:
            return Informer(kube, path, watch_timeout=watch_timeout,
                            on_change=self._changed, **selectors)

        ns = namespace
        self.dsc = informer(api_path(DSC))
        self.dsci = informer(api_path(DSCI))
        self.apps = informer(api_path(APPS, ns))
        self.quickstarts = informer(api_path(QUICKSTARTS, ns))
        self.console_links = informer(api_path(CONSOLE_LINKS))
        self.build_configs = informer(api_path(BUILD_CONFIGS, ns),
                                      label_selector=NOTEBOOK_IMAGE_BUILDS)
        self.builds = informer(api_path(BUILDS, ns))
        self.nim_accounts = informer(api_path(NIM_ACCOUNTS, ns))
        # Routes of the dashboard namespace only: app links (`spec.route`) resolve there.
        self.routes = informer(api_path(ROUTES, ns))
        # ConfigMaps of the dashboard namespace: the segment-key switch, the apps'
        # validation ConfigMaps and the enabled-apps ConfigMap.
        self.config_maps = informer(f"/api/v1/namespaces/{ns}/configmaps")
        # One Secret, by name: the service account never caches other Secrets' contents.
        self.segment_secret = informer(f"/api/v1/namespaces/{ns}/secrets",
                                       field_selector=f"metadata.name={segment_key_secret}")

    @property
    def informers(self) -> list[Informer]:
        return [self.dsc, self.dsci, self.apps, self.quickstarts, self.console_links,
                self.build_configs, self.builds, self.nim_accounts, self.routes,
                self.config_maps, self.segment_secret]

    def _changed(self) -> None:
        self.changes += 1

    def start(self) -> None:
        """Allow the informers to run. Each starts when a route first needs it (`ready`), so an
        app whose users never load the dashboard keeps no watches open for it."""
        self.started = True

    async def stop(self) -> None:
        self.started = False
        await asyncio.gather(*(inf.stop() for inf in self.informers))

    async def ready(self, informer: Informer) -> None:
        """503 when the first list has not landed within `sync_timeout` (API server down at
        start); a request never falls back to listing by itself."""
        if not self.started:
            raise ApiError(503, "the dashboard's caches are not running")
        informer.start()  # idempotent: the first reader starts it
        if not await informer.wait_synced(self.sync_timeout):
            raise ApiError(503, f"the cache of {informer.path} is not ready yet"
                           + (f": {informer.last_error}" if informer.last_error else ""))

    async def items(self, informer: Informer) -> list[dict[str, Any]]:
        """The cached objects, sorted by namespace/name (the API server's list order)."""
        await self.ready(informer)
        return [informer.objects[k] for k in sorted(informer.objects)]

    async def get(self, informer: Informer, name: str,
                  namespace: str = "") -> dict[str, Any] | None:
        await self.ready(informer)
        return informer.get(name, namespace)
