"""The core's own behaviour, written as plugins of the same hooks a third party uses."""
from .core_routes import CorePlugin
from .identity import CoreAuthPlugin
from .policy import PolicyPlugin

# (name, class); registered before entry-point plugins, always enabled.
BUILTIN_PLUGINS = [("core", CorePlugin), ("core-auth", CoreAuthPlugin),
                   ("core-policy", PolicyPlugin)]
