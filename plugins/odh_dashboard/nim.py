"""NVIDIA NIM: enabling the integration (`POST/DELETE /api/integrations/nim`, admin) and the
objects a NIM deployment needs (`GET /api/nim-serving/:resource`), COMPAT.md §3 "NIM".

The GET of `/api/integrations/nim` is boot.py's `NimHandler` (it answers from the boot caches);
`NimIntegrationHandler` below adds the admin writes to the same route.

Fix over the old backend: `/api/nim-serving/:resource` returned the NIM API-key Secret to any
caller without a user check. Here the caller must be signed in AND allowed to `get` that very
object (an access review with their token), and the object is then read with their token, so
the API server decides too; nothing is read with the service account for that route except the
NIM `Account` (which names the objects, and holds no credential).
"""
from __future__ import annotations

import datetime
from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, Route, requires

from .boot import NimHandler, nim_state
from .boot_caches import NIM_ACCOUNTS, api_path
from .names import check_subdomain

NIM_SECRET_NAME = "nvidia-nim-access"      # the old backend's names
NIM_ACCOUNT_NAME = "odh-nim-account"
MANAGED_LABEL = {"opendatahub.io/managed": "true"}
FORCE_VALIDATION = "runtimes.opendatahub.io/nim-force-validation"
MAX_VALUES = 32
MAX_VALUE_LEN = 8192

# /api/nim-serving/:resource -> (kind, where the Account names it), as the old backend.
NIM_RESOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "apiKeySecret": ("secrets", ("spec", "apiKeySecret", "name")),
    "nimPullSecret": ("secrets", ("status", "nimPullSecret", "name")),
    "nimConfig": ("configmaps", ("status", "nimConfig", "name")),
}


def _dig(obj: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def not_installed() -> ApiError:
    return ApiError(404, "NIM is not installed: the cluster does not serve the NIM Account kind "
                    "(nim.opendatahub.io/v1 accounts)", error="NIM not installed")


def enable_values(body: Any) -> dict[str, str]:
    """The submitted enablement values (`{api_key: ...}`): a non-empty object of strings."""
    if not isinstance(body, dict) or not body:
        raise ApiError(400, "the body must be a non-empty JSON object of the NIM enablement "
                       "values, e.g. {\"api_key\": \"...\"}")
    if len(body) > MAX_VALUES:
        raise ApiError(400, f"at most {MAX_VALUES} values")
    for key, value in body.items():
        if not isinstance(value, str) or len(value) > MAX_VALUE_LEN:
            raise ApiError(400, f"value {key!r} must be a string of at most {MAX_VALUE_LEN} "
                           "characters")
        if not key or len(key) > 253 or not all(c.isalnum() or c in "-._" for c in key):
            raise ApiError(400, f"{key!r} is not a valid Secret data key")
    return dict(body)


class NimIntegrationHandler(NimHandler):
    """GET (boot.py: any signed-in user) plus the admin writes."""

    def accounts_path(self) -> str:
        return api_path(NIM_ACCOUNTS, self.dashboard_namespace)

    async def first_account(self) -> dict[str, Any] | None:
        """The first NIM Account of the dashboard namespace, read now (not from the cache: a
        write just happened or is about to); 404 when the kind is not served."""
        try:
            items = (await self.kube.json("GET", self.accounts_path(),
                                          token=SERVICE_ACCOUNT)).get("items") or []
        except KubeError as exc:
            if exc.status == 404:
                raise not_installed() from None
            raise
        return items[0] if items else None

    @requires("admin")
    async def post(self) -> None:
        """Enable NIM: store the submitted values (`{api_key}`) in the `nvidia-nim-access`
        Secret of the dashboard namespace (created, or replaced with a force-validation
        annotation so the operator re-checks the key), then make sure a NIM `Account` exists.
        Answers the GET's shape `{isInstalled, isEnabled, variablesValidationStatus, ...}`.

        Service account, after the admin check (the Secret and Account live in the dashboard
        namespace, which users cannot write). The key is never logged nor sent back."""
        values = enable_values(self.json_body())
        account = await self.first_account()  # 404 first: no Secret left behind without NIM
        secret_name = _dig(account, ("spec", "apiKeySecret", "name")) or NIM_SECRET_NAME
        check_subdomain(secret_name, "API key Secret name")
        await self.store_secret(secret_name, values)
        if account is None:
            account = await self.create_account(secret_name)
        state = nim_state([account], crd_missing=False)
        state["error"] = ""
        self.write_json(state)

    async def store_secret(self, name: str, values: dict[str, str]) -> None:
        ns = self.dashboard_namespace
        path = f"/api/v1/namespaces/{ns}/secrets"
        secret: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": values,
            "metadata": {"name": name, "namespace": ns, "labels": dict(MANAGED_LABEL)}}
        resp = await self.kube.request("POST", path, token=SERVICE_ACCOUNT, json=secret)
        if resp.status != 409:
            if not resp.ok:
                raise _failed("create the NIM Secret", resp.status, resp.json())
            return
        # It exists: replace it (the old backend's PUT) and ask for a new validation.
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        secret["metadata"]["annotations"] = {FORCE_VALIDATION: now}
        resp = await self.kube.request("PUT", f"{path}/{name}", token=SERVICE_ACCOUNT,
                                       json=secret)
        if not resp.ok:
            raise _failed("replace the NIM Secret", resp.status, resp.json())

    async def create_account(self, secret_name: str) -> dict[str, Any]:
        account = {"apiVersion": "nim.opendatahub.io/v1", "kind": "Account",
                   "metadata": {"name": NIM_ACCOUNT_NAME, "namespace": self.dashboard_namespace,
                                "labels": dict(MANAGED_LABEL)},
                   "spec": {"apiKeySecret": {"name": secret_name}}}
        resp = await self.kube.request("POST", self.accounts_path(), token=SERVICE_ACCOUNT,
                                       json=account)
        if resp.status == 404:
            raise not_installed()
        if not resp.ok:
            raise _failed("create the NIM account", resp.status, resp.json())
        return resp.json()

    @requires("admin")
    async def delete(self) -> None:
        """Disable NIM: delete the NIM `Account` and its API-key Secret. Answers
        `{success, error}` as the old backend (`success: false` with a message when there was
        no account); 404 when the Account kind is not served.

        Service account, after the admin check (dashboard-namespace objects)."""
        account = await self.first_account()
        if account is None:
            self.write_json({"success": False,
                             "error": "Unable to delete nim account: no NIM account exists"})
            return
        name = (account.get("metadata") or {}).get("name") or NIM_ACCOUNT_NAME
        secret_name = check_subdomain(
            _dig(account, ("spec", "apiKeySecret", "name")) or NIM_SECRET_NAME,
            "API key Secret name")
        resp = await self.kube.request("DELETE", f"{self.accounts_path()}/{name}",
                                       token=SERVICE_ACCOUNT)
        if not resp.ok and resp.status != 404:
            raise _failed("delete the NIM account", resp.status, resp.json())
        resp = await self.kube.request(
            "DELETE", f"/api/v1/namespaces/{self.dashboard_namespace}/secrets/{secret_name}",
            token=SERVICE_ACCOUNT)
        if not resp.ok and resp.status != 404:
            raise _failed("delete the NIM Secret", resp.status, resp.json())
        self.write_json({"success": True, "error": ""})


def _failed(what: str, status: int, body: Any) -> ApiError:
    message = (body or {}).get("message") if isinstance(body, dict) else None
    return ApiError(status if 400 <= status < 600 else 502,
                    f"Failed to {what}: {message or f'the API server answered {status}'}")


class NimServingHandler(NimHandler):
    async def get(self, resource: str) -> None:
        """The NIM object named by the first NIM Account: `apiKeySecret` (its
        `spec.apiKeySecret`), `nimPullSecret` (`status.nimPullSecret`) or `nimConfig` (the
        `status.nimConfig` ConfigMap), as the Kubernetes object. 404 for another resource, no
        account, or no such name in the account.

        As the user: an access review with the caller's token must allow `get` on that object
        before anything is read, and the object is then read with the caller's token (the old
        backend returned the Secret to anyone). The Account itself comes from the boot cache
        (service account; it names objects, it holds no credential)."""
        if resource not in NIM_RESOURCES:
            raise ApiError(404, f"Invalid resource type: {resource[:64]!r} (one of "
                           f"{', '.join(NIM_RESOURCES)})", error="Not found")
        kind, where = NIM_RESOURCES[resource]
        caches = self.caches()
        accounts = await caches.items(caches.nim_accounts)
        if not accounts:
            if caches.nim_accounts.last_error:
                raise not_installed()
            raise ApiError(404, "NIM account not found", error="Not found")
        name = _dig(accounts[0], where)
        if not isinstance(name, str) or not name:
            raise ApiError(404, f"{resource} name not found in account", error="Not found")
        check_subdomain(name, f"{resource} name in the NIM account")
        ns = self.dashboard_namespace
        if not await self.kube.access_review(self.token, verb="get", resource=kind,
                                             namespace=ns, name=name):
            raise ApiError(403, f"forbidden: you may not read the {resource} object {ns}/{name}")
        try:
            obj = await self.kube.json("GET", f"/api/v1/namespaces/{ns}/{kind}/{name}",
                                       token=self.token)
        except KubeError as exc:
            if exc.status == 404:
                raise ApiError(404, f"{'Secret' if kind == 'secrets' else 'ConfigMap'} not "
                               "found", error="Not found") from None
            raise
        self.set_header("Cache-Control", "no-store")
        self.write_json(obj)


def nim_routes() -> list[Route]:
    return [
        Route(r"/api/integrations/nim", NimIntegrationHandler,
              description="NIM integration state; POST enable / DELETE disable (admin)."),
        Route(r"/api/nim-serving/([^/]+)", NimServingHandler, params=("resource",),
              description="A NIM object (apiKeySecret, nimPullSecret, nimConfig) named by the "
              "NIM Account, if you may read it."),
    ]
