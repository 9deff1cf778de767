"""The core's own behaviour, written as plugins of the same hooks a third party uses."""
from .core_routes import CorePlugin
from .identity import CoreAuthPlugin

# (name, class); registered before entry-point plugins, always enabled.
BUILTIN_PLUGINS = [("core", CorePlugin), ("core-auth", CoreAuthPlugin)]
