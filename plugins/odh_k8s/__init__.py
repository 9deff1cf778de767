"""Plugin `k8s`: the streaming `/api/k8s/<path>` pass-through to the Kubernetes API server.

Nothing dashboard-specific lives here (that is plugin `dashboard`); see COMPAT.md §1 and §3
("Pass-through details").
"""
from .plugin import K8sPlugin

__all__ = ["K8sPlugin"]
