"""Package BFFs (module federation) reached through odh-core: `/_mf/<name>/*` assets,
`proxyService` paths, WebSockets, per-target resilience from `odh_core.resilience`."""
from .plugin import FederationPlugin

__all__ = ["FederationPlugin"]
