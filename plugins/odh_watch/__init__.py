"""The `watch` plugin: Kubernetes watches and pod logs over WebSockets, per user or shared."""
from .plugin import WatchPlugin

__all__ = ["WatchPlugin"]
