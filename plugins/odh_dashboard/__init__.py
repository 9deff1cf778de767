"""Plugin `dashboard`: the Open Data Hub dashboard's own routes (status, config, cluster
settings, namespaces, role bindings, dev impersonation). See plugin.py for the route list."""
from .plugin import DashboardConfig, DashboardPlugin

__all__ = ["DashboardConfig", "DashboardPlugin"]
