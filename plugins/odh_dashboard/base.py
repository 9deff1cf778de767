"""What the dashboard's handlers share."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from odh_core import BaseHandler, KubeClient

if TYPE_CHECKING:  # pragma: no cover
    from .plugin import DashboardPlugin


class DashboardHandler(BaseHandler):
    plugin: "DashboardPlugin"

    @property
    def kube(self) -> KubeClient:
        return self.odh.kube

    @property
    def dashboard_namespace(self) -> str:
        return self.odh.settings.kubernetes.dashboard_namespace

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 400 for anything else."""
        body = self.json_body()
        if not isinstance(body, dict):
            from odh_core import ApiError

            raise ApiError(400, "the request body must be a JSON object")
        return body
