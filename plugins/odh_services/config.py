"""Services config: gated service proxies as data, Prometheus/Thanos addresses, limits.

A gated service is `/api/service/<key>[/<namespace>][/<name>]/*`: a gating object (group,
version, plural; its namespace and name from the path unless fixed) read *as the user*, an
optional readiness condition, and target sources tried in order (a field of the object, or a
URL template with `{name}`, `{namespace}`, `{dashboard_namespace}`). Entries under
`plugins.services.services` are merged over the built-in ones of the same key (a new key adds a
service; `null` removes one).
"""
from __future__ import annotations

import os
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from odh_core import PluginConfig

SERVICE_CA = "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt"
MAX_BODY = 100 * 2**20

DSPA = {"kind": "DataSciencePipelinesApplication",
        "group": "datasciencepipelinesapplications.opendatahub.io", "version": "v1",
        "plural": "datasciencepipelinesapplications"}

BUILTIN_SERVICES: dict[str, dict[str, Any]] = {
    # The pipelines API server of a DataSciencePipelinesApplication, once its API server is up.
    "pipelines": {"gate": {**DSPA, "ready_condition": "APIServerReady"},
                  "targets": [{"field": ["status", "components", "apiServer", "url"]}]},
    # Its ML metadata proxy.
    "mlmd": {"gate": {**DSPA, "ready_condition": "MLMDProxyReady"},
             "targets": [{"field": ["status", "components", "mlmdProxy", "url"]}]},
    "trustyai": {"gate": {"kind": "TrustyAIService", "group": "trustyai.opendatahub.io",
                          "version": "v1", "plural": "trustyaiservices",
                          "ready_condition": "Available"},
                 "targets": [{"template": "https://{name}-tls.{namespace}.svc.cluster.local:443"}]},
    # A model registry's REST Service in the registries namespace.
    "modelregistry": {"gate": {"kind": "Service", "group": "", "version": "v1",
                               "plural": "services", "namespace": "odh-model-registries"},
                      "targets": [{"field": ["metadata", "annotations",
                                             "routing.opendatahub.io/external-address-rest"]},
                                  {"template": "https://{name}.{namespace}.svc.cluster.local:8080"}]},
    # The dashboard's model-serving API (no gating object: the service checks the token).
    "model-serving": {"gate": None, "targets": [{
        "template": "https://odh-model-serving-api.{dashboard_namespace}.svc.cluster.local:8443"}]},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateSpec(_Strict):
    kind: str = Field(description="Kind named in messages, e.g. TrustyAIService.")
    group: str = ""
    version: str
    plural: str
    namespace: str | None = Field(None, description="Fixed namespace; null: from the path.")
    name: str | None = Field(None, description="Fixed name; null: from the path.")
    namespaced: bool = True
    ready_condition: str | None = Field(None, description="Condition type that must be "
                                        "status True; null: existing is enough.")

    def api_path(self, namespace: str | None, name: str) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced:
            base += f"/namespaces/{namespace}"
        return f"{base}/{self.plural}/{name}"


class TargetSource(_Strict):
    field: list[str] | None = Field(None, description="Keys into the gating object; its value "
                                    "is a URL (a bare host[:port] gets https://).")
    template: str | None = Field(None, description="URL with {name}, {namespace}, "
                                 "{dashboard_namespace}.")

    @model_validator(mode="after")
    def _one(self) -> "TargetSource":
        if (self.field is None) == (self.template is None):
            raise ValueError("a target source has exactly one of field, template")
        return self


class ServiceSpec(_Strict):
    gate: GateSpec | None = None
    targets: list[TargetSource] = Field(min_length=1)
    authorize: bool = Field(True, description="Send the user's token as Authorization.")

    @property
    def path_params(self) -> list[str]:
        """Which of namespace/name come from the URL, in order."""
        if self.gate is None:
            return []
        out = []
        if self.gate.namespaced and self.gate.namespace is None:
            out.append("namespace")
        if self.gate.name is None:
            out.append("name")
        return out


class PrometheusConfig(_Strict):
    tenancy_url: str = Field("https://thanos-querier.openshift-monitoring.svc.cluster.local:9092",
                             description="Thanos querier tenancy port (namespace-scoped).")
    cluster_url: str = Field("https://thanos-querier.openshift-monitoring.svc.cluster.local:9091",
                             description="Thanos querier cluster-wide port.")
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for Prometheus' answer.")


def _default_ca() -> str | None:
    return SERVICE_CA if os.path.exists(SERVICE_CA) else None


class ServicesConfig(PluginConfig):
    services: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict, description="Gated services, each merged key by key over the "
        "built-in one of the same name (null removes it).")
    max_body_size: int = Field(MAX_BODY, ge=0, description="Largest request body proxied to a "
                               "service (413 beyond, before any upstream call).")
    cache_ttl: float = Field(5.0, ge=0, description="Seconds a resolved gate is reused for the "
                             "same user and object.")
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig,
                                         description="Thanos querier addresses (user token "
                                         "forwarded).")
    ca_file: str | None = Field(default_factory=_default_ca, description="CA bundle for https "
                                "targets; default: the cluster's service CA when mounted.")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to a service.")
    read_timeout: float = Field(120.0, gt=0, description="Seconds without a byte from a "
                                "service.")
    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open a "
                                   "target's circuit breaker.")
    reset_timeout: float = Field(10.0, gt=0, description="Seconds a breaker stays open before "
                                 "a probe.")

    @model_validator(mode="after")
    def _services_valid(self) -> "ServicesConfig":
        self.effective_services()  # errors surface at start, named by key
        return self

    def effective_services(self) -> dict[str, ServiceSpec]:
        merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in BUILTIN_SERVICES.items()}
        for key, raw in self.services.items():
            if raw is None:
                merged.pop(key, None)
            else:
                merged[key] = {**merged.get(key, {}), **raw}
        out = {}
        for key, raw in merged.items():
            if not re.match(r"^[a-z0-9][a-z0-9-]*$", key):
                raise ValueError(f"service key {key!r} must be lower-case letters, digits, '-'")
            try:
                out[key] = ServiceSpec.model_validate(raw)
            except ValueError as exc:
                raise ValueError(f"service {key!r}: {exc}") from None
        return out
