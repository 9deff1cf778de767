"""The dashboard's built-in defaults, as data (COMPAT.md §4, exact).

`/api/config` deep-merges the OdhDashboardConfig object over `default_config()`; a key the
object lacks takes the default here. Keep these lists in the order COMPAT.md gives them, so a
reviewer can hold them side by side.
"""
from __future__ import annotations

import copy
from typing import Any

CONFIG_GROUP = "opendatahub.io"
CONFIG_VERSION = "v1alpha"
CONFIG_PLURAL = "odhdashboardconfigs"
CONFIG_KIND = "OdhDashboardConfig"
CONFIG_NAME = "odh-dashboard-config"
DASHBOARD_LABEL = "opendatahub.io/dashboard"

# spec.dashboardConfig flags that default to true.
FLAGS_TRUE: tuple[str, ...] = (
    "enablement", "disableTracking", "modelAsService", "disableFineTuning", "disableKueue",
    "disableLMEval", "mlflow", "trainingJobs", "projectRBAC", "roleManagement", "gpuaas",
    "observabilityDashboard",
)

# spec.dashboardConfig flags that default to false.
FLAGS_FALSE: tuple[str, ...] = (
    "disableInfo", "disableSupport", "disableClusterManager", "disableBYONImageStream",
    "disableISVBadges", "disableAppLauncher", "disableUserManagement", "disableHome",
    "disableProjects", "disableModelServing", "disableProjectScoped", "disableProjectSharing",
    "disableCustomServingRuntimes", "disableTrustyBiasMetrics", "disablePerformanceMetrics",
    "disablePipelines", "disableKServe", "disableKServeAuth", "disableKServeMetrics",
    "disableKServeRaw", "disableDistributedWorkloads", "disableModelCatalog",
    "disableModelRegistry", "disableModelRegistrySecureDB", "disableServingRuntimeParams",
    "disableConnectionTypes", "disableStorageClasses", "disableNIMModelServing",
    "disableAdminConnectionTypes", "disableFeatureStore", "featureStoreAdmin", "genAiStudio",
    "genAiTracing", "guardrails", "automl", "autorag", "aiAssetCustomEndpoints",
    "externalModels", "mcpCatalog", "mcpRegistry", "agentOps", "agentsCatalog", "toolCalling",
    "disableLLMd", "deploymentWizardYAMLViewer", "externalVectorStores",
    "agentConfigManagement", "vLLMDeploymentOnMaaS", "llmGatewayField", "promptManagement",
    "globalProjectPrompts", "connectionTest", "modelCapabilities",
)

# The rest of spec.
OTHER_SPEC: dict[str, Any] = {
    "notebookController": {"enabled": True},
    "templateOrder": [],
    "globalMLflowNamespaces": [],
    "genAiStudioConfig": {"aiAssetCustomEndpoints": {"externalProviders": False,
                                                      "clusterDomains": []}},
}

# What the old backend forced after the merge, whatever the object said. Kept by default
# (plugin config `forced_flags`) because the shipped frontends were built against it: fine
# tuning stays off and the MLflow UI stays on until the operator's CR can express them.
OLD_BACKEND_FORCED_FLAGS: dict[str, bool] = {"disableFineTuning": True, "mlflow": True}

# /api/cluster-settings (old backend's clusterSettingsUtils).
DEFAULT_PVC_SIZE_GI = 20
CULLER_DISABLED_TIMEOUT = 31_536_000   # one year in seconds: "no culling"
CULLER_MIN_TIMEOUT = 600               # the old UI's lower bound: ten minutes
IDLENESS_CHECK_PERIOD = "1"            # minutes
CULLER_CONFIGMAP = "notebook-controller-culler-config"
SEGMENT_CONFIGMAP = "odh-segment-key-config"


def default_flags() -> dict[str, bool]:
    return {**{k: True for k in FLAGS_TRUE}, **{k: False for k in FLAGS_FALSE}}


def default_spec() -> dict[str, Any]:
    return {"dashboardConfig": default_flags(), **copy.deepcopy(OTHER_SPEC)}


def default_config(namespace: str) -> dict[str, Any]:
    """The whole object the route answers when the cluster has none."""
    return {
        "apiVersion": f"{CONFIG_GROUP}/{CONFIG_VERSION}",
        "kind": CONFIG_KIND,
        "metadata": {"name": CONFIG_NAME, "namespace": namespace,
                     "labels": {DASHBOARD_LABEL: "true"}},
        "spec": default_spec(),
    }


def deep_merge(base: Any, over: Any) -> Any:
    """`over` wins; mappings merge key by key, anything else (lists too) is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)
