"""odh-core: a plugin host for the Open Data Hub backend.

This module is the whole public API a plugin may import; plugins import nothing else from
`odh_core` (a test enforces it for the core plugins).
"""
from .auth import Identity
from .config import Settings
from .errors import ApiError
from .frontend import Frontend, FrontendHandler, csp_header
from .hookspecs import hookimpl
from .kube import SERVICE_ACCOUNT, KubeClient, KubeError, KubeUnavailable
from .proxy import ProxyHandler, Upstream, check_proxy_path
from .plugin import HealthCheck, Plugin, PluginConfig, PluginContext, Route
from .resilience import (CircuitBreaker, HeaderPolicy, ResilientProxyHandler, RetryPolicy, Target,
                         TargetRegistry, TargetSettings, service_url)
from .sse import EventStream
from .web import BaseHandler, BaseWebSocketHandler, allow_anonymous, requires, utc_now

__all__ = [
    "ApiError", "BaseHandler", "BaseWebSocketHandler", "CircuitBreaker", "EventStream",
    "Frontend", "FrontendHandler", "HeaderPolicy", "HealthCheck", "Identity", "KubeClient",
    "KubeError", "KubeUnavailable", "Plugin", "PluginConfig", "PluginContext", "ProxyHandler",
    "ResilientProxyHandler", "RetryPolicy", "Route", "SERVICE_ACCOUNT", "Settings", "Target",
    "TargetRegistry", "TargetSettings", "Upstream", "allow_anonymous", "check_proxy_path",
    "csp_header", "hookimpl", "requires", "service_url", "utc_now",
]
