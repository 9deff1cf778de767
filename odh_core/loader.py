"""Find plugins through entry points, decide which are enabled, build and register them.

Modelled on pytest/eggsample: one PluginManager per app, entry points loaded explicitly (so the
config decides before anything is imported), `check_pending()` so that a hook implementation
with a misspelt name fails the boot instead of never being called.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Callable, Iterable

import pluggy
from pydantic import ValidationError

from . import hookspecs
from .config import ConfigError, Settings, format_validation_error
from .plugin import Plugin, PluginConfig, PluginContext

log = logging.getLogger("odh.loader")
GROUP = "odh_core.plugins"


class PluginLoadError(ConfigError):
    """A plugin could not be found, imported, configured or registered."""


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    enabled: bool
    entry_point: EntryPoint | None = None
    cls: type[Plugin] | None = None
    import_seconds: float = 0.0
    instance: Plugin | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)


def discover(eps: Iterable[EntryPoint] | None = None) -> dict[str, PluginInfo]:
    """Entry points of group `odh_core.plugins`, refusing one name claimed twice."""
    found: dict[str, PluginInfo] = {}
    # A distribution's name and version each parse its METADATA file anew: read once per
    # distribution (one distribution ships many plugins), not once per plugin.
    metadata: dict[int, tuple[str, str]] = {}
    for ep in (entry_points(group=GROUP) if eps is None else eps):
        dist = version = None
        if ep.dist is not None:
            if id(ep.dist) not in metadata:
                metadata[id(ep.dist)] = (ep.dist.name, ep.dist.version)
            dist, version = metadata[id(ep.dist)]
        if ep.name in found:
            other = found[ep.name]
            if (other.distribution, other.entry_point.value if other.entry_point else None) == (
                    dist, ep.value):
                continue  # one distribution seen twice on sys.path (editable + site)
            raise PluginLoadError(
                f"plugin name {ep.name!r} is claimed by two distributions: "
                f"{other.distribution} ({other.entry_point.value if other.entry_point else '?'}) "
                f"and {dist} ({ep.value}); uninstall one")
        found[ep.name] = PluginInfo(ep.name, dist, version, enabled=False, entry_point=ep)
    return found


def decide_enabled(found: dict[str, PluginInfo], settings: Settings) -> None:
    unknown = sorted(set(settings.plugins) - set(found))
    if unknown:
        raise PluginLoadError(
            f"config names plugin(s) that are not installed: {', '.join(unknown)} "
            f"(installed: {', '.join(sorted(found)) or 'none'})")
    for name, info in found.items():
        section = settings.plugins.get(name, {})
        flag = section.get("enabled")
        if flag is not None and not isinstance(flag, bool):
            raise PluginLoadError(f"plugins.{name}.enabled must be true or false, not {flag!r}")
        info.enabled = flag if flag is not None else settings.plugin_autoload


def import_plugin(info: PluginInfo) -> None:
    assert info.entry_point is not None
    started = time.perf_counter()
    try:
        cls = info.entry_point.load()
    except Exception as exc:  # an enabled plugin that does not import stops the boot
        raise PluginLoadError(
            f"plugin {info.name!r} ({info.entry_point.value}) failed to import: "
            f"{type(exc).__name__}: {exc}") from exc
    info.import_seconds = time.perf_counter() - started
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise PluginLoadError(f"plugin {info.name!r}: {info.entry_point.value} is not an "
                              "odh_core.Plugin subclass")
    info.cls = cls
    log.info("imported plugin %s in %.1f ms", info.name, info.import_seconds * 1000,
             extra={"plugin": info.name, "import_ms": round(info.import_seconds * 1000, 1)})


def validate_plugin_config(name: str, cls: type[Plugin], section: dict[str, Any]) -> Any:
    raw = {k: v for k, v in section.items() if k != "enabled"}
    model = getattr(cls, "Config", PluginConfig)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise PluginLoadError(
            f"plugin {name!r} config is invalid: "
            f"{format_validation_error(exc, prefix=f'plugins.{name}')}") from None


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def register(pm: pluggy.PluginManager, info: PluginInfo,
             make_context: Callable[[PluginInfo, Any], PluginContext],
             settings: Settings) -> None:
    assert info.cls is not None
    config = validate_plugin_config(info.name, info.cls, settings.plugins.get(info.name, {}))
    ctx = make_context(info, config)
    try:
        instance = info.cls(ctx)
    except Exception as exc:
        raise PluginLoadError(f"plugin {info.name!r} failed to initialise: "
                              f"{type(exc).__name__}: {exc}") from exc
    try:
        pm.register(instance, name=info.name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginLoadError(f"plugin {info.name!r} cannot be registered: {exc}") from exc
    info.instance = instance
    info.hooks = sorted(h.name for h in pm.get_hookcallers(instance) or [])


def check_pending(pm: pluggy.PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) if exc.plugin is not None else "?"
        raise PluginLoadError(f"plugin {name!r}: {exc} (a hook implementation with no "
                              "hook of that name in odh_core.hookspecs)") from exc
