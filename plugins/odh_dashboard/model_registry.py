"""Model registry settings (admin), with the old shapes:

- `GET/POST /api/modelRegistries`, `GET/PATCH/DELETE /api/modelRegistries/:name`: the
  ModelRegistry CR (modelregistry.opendatahub.io/v1beta1) in the registries namespace (plugin
  config `model_registries_namespace`) plus the Secret holding its database password. Bodies
  are `{modelRegistry, databasePassword?, newDatabaseCACertificate?}`; POST answers the
  ModelRegistry, GET and PATCH `{modelRegistry, databasePassword?}`, DELETE the Status.
- `GET/POST /api/modelRegistryRoleBindings`, `DELETE /api/modelRegistryRoleBindings/:name`:
  RoleBindings of the registries namespace labelled `app.kubernetes.io/component=model-registry`.
- `GET /api/modelRegistryCertificates`: `{secrets: [{name, keys}], configMaps: [{name, keys}]}`
  usable as a database CA: names and key names only, never the content.

Every route is admin only and uses odh-core's SERVICE ACCOUNT after the route's admin check
(the old `secureAdminRoute`). The database password is sent back only to an admin whose own
token may `get` that Secret (a SelfSubjectAccessReview as the caller): an admin of the dashboard
who could not read the Secret on the cluster never sees it through odh-core. Creating, patching
and deleting run as a dry run of both objects first, as the old backend did, so a failure of
either changes nothing.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, Route, requires

from .base import DashboardHandler
from .cr_calls import MERGE_PATCH, call, check_object_name, label_selector, meta_of
from .names import check_subdomain

GROUP, VERSION, PLURAL = "modelregistry.opendatahub.io", "v1beta1", "modelregistries"
KIND = "The model registry (ModelRegistry, modelregistry.opendatahub.io/v1beta1)"
DB_TYPES = ("mysql", "postgres")
RB_SELECTOR = "app.kubernetes.io/component=model-registry"
PASSWORD_KEY = "database-password"
MAX_PASSWORD = 4096
MAX_CA = 256 * 1024


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def db_spec(mr: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    spec = mr.get("spec") if isinstance(mr.get("spec"), dict) else {}
    for kind in DB_TYPES:
        if isinstance(spec.get(kind), dict):
            return kind, spec[kind]
    return None, None


def _password(body: dict[str, Any]) -> str | None:
    value = body.get("databasePassword")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_PASSWORD:
        raise ApiError(400, "databasePassword must be a string")
    return value


def _ca(body: dict[str, Any]) -> str | None:
    value = body.get("newDatabaseCACertificate")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_CA:
        raise ApiError(400, "newDatabaseCACertificate must be a PEM string")
    return value


class _Base(DashboardHandler):
    @property
    def ns(self) -> str:
        return self.plugin.config.model_registries_namespace

    def mr_path(self, name: str = "") -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{self.ns}/{PLURAL}"
        return f"{base}/{name}" if name else base

    def core(self, kind: str, name: str = "") -> str:
        base = f"/api/v1/namespaces/{self.ns}/{kind}"
        return f"{base}/{name}" if name else base

    async def sa(self, method: str, path: str, **kwargs: Any) -> Any:
        return await call(self.kube, method, path, KIND, token=SERVICE_ACCOUNT, **kwargs)

    async def may_read_secret(self, name: str) -> bool:
        """Whether the caller's own token may read the Secret (never the service account's)."""
        return await self.kube.access_review(self.token, verb="get", resource="secrets",
                                             namespace=self.ns, name=name)

    async def password_secret(self, mr: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        _, spec = db_spec(mr)
        ref = (spec or {}).get("passwordSecret")
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            return None, PASSWORD_KEY
        check_subdomain(ref["name"], "passwordSecret name")
        try:
            secret = await self.sa("GET", self.core("secrets", ref["name"]))
        except KubeError as exc:
            if exc.status == 404:
                return None, ref.get("key") or PASSWORD_KEY
            raise
        return secret, ref.get("key") or PASSWORD_KEY

    async def readable_password(self, mr: dict[str, Any]) -> str | None:
        secret, key = await self.password_secret(mr)
        if secret is None or not await self.may_read_secret(secret["metadata"]["name"]):
            return None
        raw = (secret.get("data") or {}).get(key)
        return base64.b64decode(raw).decode("utf-8", "replace") if raw else None

    async def ca_configmap(self, mr: dict[str, Any], pem: str) -> None:
        """The old backend's `newDatabaseCACertificate`: a ConfigMap named by the spec's
        `sslRootCertificateConfigMap.name`, key `ca.crt`; the spec then points at it."""
        _, spec = db_spec(mr)
        ref = (spec or {}).get("sslRootCertificateConfigMap")
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            raise ApiError(400, "newDatabaseCACertificate needs the database spec's "
                           "sslRootCertificateConfigMap.name")
        check_subdomain(ref["name"], "sslRootCertificateConfigMap name")
        await self.sa("POST", self.core("configmaps"), json={
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ref["name"], "namespace": self.ns},
            "data": {"ca.crt": pem}})
        spec["sslRootCertificateConfigMap"] = {"name": ref["name"], "key": "ca.crt"}  # type: ignore[index]


class ModelRegistriesHandler(_Base):
    @requires("admin")
    async def get(self) -> None:
        """The ModelRegistries (the API server's list; no passwords), `?labelSelector=`:
        admin only, SERVICE ACCOUNT after the admin check."""
        params = label_selector(self.get_query_argument("labelSelector", None))
        self.write_json(await self.sa("GET", self.mr_path(), params=params))

    @requires("admin")
    async def post(self) -> None:
        """Create a ModelRegistry and, with `databasePassword`, the Secret it references
        (dry run of both first; `?dryRun=true` stops there). Answers the ModelRegistry.
        Admin only, SERVICE ACCOUNT after the admin check."""
        body = self.json_object()
        mr = body.get("modelRegistry")
        meta = meta_of(mr, what="modelRegistry")
        check_object_name(meta, "modelRegistry")
        meta["namespace"] = self.ns
        mr.setdefault("apiVersion", f"{GROUP}/{VERSION}")
        mr.setdefault("kind", "ModelRegistry")
        password, pem = _password(body), _ca(body)
        dry_only = bool(self.get_query_argument("dryRun", ""))
        if pem and not dry_only:
            await self.ca_configmap(mr, pem)

        async def create_both(dry: bool) -> dict[str, Any]:
            params = {"dryRun": "All"} if dry else {}
            db_type, spec = db_spec(mr)
            obj = mr
            if password and spec is not None:
                secret = await self.sa("POST", self.core("secrets"), params=params, json={
                    "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"generateName": f"{meta.get('name') or 'registry'}-db-",
                                 "namespace": self.ns},
                    "data": {"database-name": _b64(str(spec.get("database") or "")),
                             "database-user": _b64(str(spec.get("username") or "")),
                             PASSWORD_KEY: _b64(password)}})
                obj = {**mr, "spec": {**mr["spec"], db_type: {
                    **spec, "passwordSecret": {"key": PASSWORD_KEY,
                                               "name": secret["metadata"]["name"]}}}}
            return await self.sa("POST", self.mr_path(), params=params, json=obj)

        result = await create_both(True)
        if not dry_only:
            result = await create_both(False)
        self.write_json(result)


class ModelRegistryHandler(_Base):
    @requires("admin")
    async def get(self, name: str) -> None:
        """`{modelRegistry, databasePassword?}`: the password only when the caller's own token
        may read its Secret. Admin only, SERVICE ACCOUNT after the admin check."""
        check_subdomain(name, "model registry name")
        mr = await self.sa("GET", self.mr_path(name))
        out: dict[str, Any] = {"modelRegistry": mr}
        password = await self.readable_password(mr)
        if password is not None:
            out["databasePassword"] = password
        self.write_json(out)

    @requires("admin")
    async def patch(self, name: str) -> None:
        """`{modelRegistry: <merge patch>, databasePassword?, newDatabaseCACertificate?}`: patch
        the CR; a password replaces the Secret's (none given: the Secret is removed, as the
        old backend did). Answers `{modelRegistry, databasePassword?}` (the password only when
        the caller may read the Secret). Admin only, SERVICE ACCOUNT after the admin check."""
        check_subdomain(name, "model registry name")
        body = self.json_object()
        patch = body.get("modelRegistry") or {}
        if not isinstance(patch, dict):
            raise ApiError(400, "modelRegistry must be a JSON merge patch object")
        if "metadata" in patch and isinstance(patch["metadata"], dict) and (
                {"name", "namespace"} & set(patch["metadata"])):
            raise ApiError(400, "metadata.name and metadata.namespace cannot change")
        password, pem = _password(body), _ca(body)
        dry_only = bool(self.get_query_argument("dryRun", ""))
        if pem and not dry_only:
            await self.ca_configmap(patch, pem)

        async def patch_both(dry: bool) -> dict[str, Any]:
            params = {"dryRun": "All"} if dry else {}
            mr = await self.sa("PATCH", self.mr_path(name), params=params,
                               data=json.dumps(patch).encode(),
                               headers={"Content-Type": MERGE_PATCH})
            secret, key = await self.password_secret(mr)
            if secret is not None:
                sname = secret["metadata"]["name"]
                if password:
                    await self.sa("PATCH", self.core("secrets", sname), params=params,
                                  data=json.dumps(
                                      {"data": {key: _b64(password)}}).encode(),
                                  headers={"Content-Type": MERGE_PATCH})
                elif not dry:
                    await self.sa("DELETE", self.core("secrets", sname))
            return mr

        result = await patch_both(True)
        if not dry_only:
            result = await patch_both(False)
        out: dict[str, Any] = {"modelRegistry": result}
        if password:
            secret, _ = await self.password_secret(result)
            if secret is not None and await self.may_read_secret(secret["metadata"]["name"]):
                out["databasePassword"] = password
        self.write_json(out)

    @requires("admin")
    async def delete(self, name: str) -> None:
        """Delete the ModelRegistry and its password Secret (dry run first); answers the
        API server's Status. Admin only, SERVICE ACCOUNT after the admin check."""
        check_subdomain(name, "model registry name")
        mr = await self.sa("GET", self.mr_path(name))
        dry_only = bool(self.get_query_argument("dryRun", ""))
        result: Any = None
        for dry in ((True,) if dry_only else (True, False)):
            params = {"dryRun": "All"} if dry else {}
            result = await self.sa("DELETE", self.mr_path(name), params=params)
            secret, _ = await self.password_secret(mr)
            if secret is not None:
                try:
                    await self.sa("DELETE", self.core("secrets", secret["metadata"]["name"]),
                                  params=params)
                except KubeError as exc:
                    if exc.status != 404:
                        raise
        self.write_json(result)


class RoleBindingsHandler(_Base):
    @requires("admin")
    async def get(self) -> None:
        """RoleBindings of the registries namespace labelled
        `app.kubernetes.io/component=model-registry` (the list): admin only, SERVICE ACCOUNT
        after the admin check."""
        self.write_json(await self.sa(
            "GET", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{self.ns}/rolebindings",
            params={"labelSelector": RB_SELECTOR}))

    @requires("admin")
    async def post(self) -> None:
        """Create the RoleBinding in the body in the registries namespace (the body's own
        namespace is replaced); one that exists already answers `{}` as before. Admin only,
        SERVICE ACCOUNT after the admin check."""
        rb = self.json_object()
        meta = meta_of(rb, what="roleBinding")
        check_object_name(meta, "roleBinding")
        meta["namespace"] = self.ns
        if rb.setdefault("kind", "RoleBinding") != "RoleBinding":
            raise ApiError(400, "kind must be RoleBinding")
        rb.setdefault("apiVersion", "rbac.authorization.k8s.io/v1")
        try:
            created = await self.sa(
                "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{self.ns}/rolebindings",
                json=rb)
        except KubeError as exc:
            if exc.status == 409:
                self.write_json({})
                return
            raise
        self.write_json(created)


class RoleBindingHandler(_Base):
    @requires("admin")
    async def delete(self, name: str) -> None:
        """Delete a RoleBinding of the registries namespace (answers the Status); only one
        labelled for the model registry. Admin only, SERVICE ACCOUNT after the admin check."""
        check_subdomain(name, "role binding name")
        path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{self.ns}/rolebindings/{name}"
        rb = await self.sa("GET", path)
        labels = (rb.get("metadata") or {}).get("labels") or {}
        if labels.get("app.kubernetes.io/component") != "model-registry":
            raise ApiError(404, f"role binding {name!r} is not a model registry role binding")
        self.write_json(await self.sa("DELETE", path))


class CertificatesHandler(_Base):
    @requires("admin")
    async def get(self) -> None:
        """Names (and key names) of the Opaque Secrets and the ConfigMaps of the registries
        namespace, to pick a database CA from: never their content. Admin only, SERVICE
        ACCOUNT after the admin check."""
        secrets = await self.sa("GET", self.core("secrets"))
        cms = await self.sa("GET", self.core("configmaps"))

        def names(items: list[dict[str, Any]], field: str = "data") -> list[dict[str, Any]]:
            return [{"name": (i.get("metadata") or {}).get("name") or "unknown",
                     "keys": [k for k, v in (i.get(field) or {}).items() if v not in (None, "")]}
                    for i in items]

        self.write_json({
            "secrets": names([s for s in secrets.get("items") or []
                              if s.get("type") == "Opaque"]),
            "configMaps": names(cms.get("items") or [])})


_OBJ: dict[str, Any] = {"type": "object", "additionalProperties": True}
_WITH_PW = {"type": "object", "properties": {"modelRegistry": _OBJ,
                                             "databasePassword": {"type": "string"}}}
_NAMES = {"type": "array", "items": {"type": "object", "properties": {
    "name": {"type": "string"}, "keys": {"type": "array", "items": {"type": "string"}}}}}


def model_registry_routes() -> list[Route]:
    return [
        Route(r"/api/modelRegistries", ModelRegistriesHandler,
              description="ModelRegistry CRs of the registries namespace: list, create with "
              "the database-password Secret (admin).",
              request_body={"post": {"type": "object", "properties": {
                  "modelRegistry": _OBJ, "databasePassword": {"type": "string"},
                  "newDatabaseCACertificate": {"type": "string"}}}},
              responses={200: _OBJ}),
        Route(r"/api/modelRegistries/([^/]+)", ModelRegistryHandler, params=("name",),
              description="One ModelRegistry and its database password (only if you may read "
              "its Secret): read, merge-patch, delete (admin).",
              request_body={"patch": _WITH_PW},
              responses={"get": {200: _WITH_PW}, "patch": {200: _WITH_PW},
                         "delete": {200: _OBJ}}),
        Route(r"/api/modelRegistryRoleBindings", RoleBindingsHandler,
              description="Model registry RoleBindings of the registries namespace: list, "
              "create (admin).", request_body={"post": _OBJ}, responses={200: _OBJ}),
        Route(r"/api/modelRegistryRoleBindings/([^/]+)", RoleBindingHandler, params=("name",),
              description="Delete a model registry RoleBinding (admin).",
              responses={200: _OBJ}),
        Route(r"/api/modelRegistryCertificates", CertificatesHandler,
              description="Secret and ConfigMap names (and key names) usable as a database "
              "CA; never their content (admin).",
              responses={200: {"type": "object", "properties": {"secrets": _NAMES,
                                                                "configMaps": _NAMES}}}),
    ]
