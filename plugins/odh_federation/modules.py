"""The live module table: which module and target a request goes to, swapped whole on reload."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from odh_core import ApiError, RetryPolicy, Target, TargetRegistry, TargetSettings

from .config import FederationConfig, Module, ProxyPath, TargetSpec

log = logging.getLogger("odh.plugin.federation")


@dataclass(frozen=True)
class Snapshot:
    modules: dict[str, Module]
    proxies: tuple[ProxyPath, ...]  # longest path first


class ModuleTable:
    def __init__(self, cfg: FederationConfig, registry: TargetRegistry):
        self.cfg = cfg
        self.registry = registry
        self.snapshot = Snapshot({}, ())
        self.families: frozenset[str] = frozenset()
        self.unrouted: dict[str, list[str]] = {}  # module -> proxy paths outside our routes
        self.last_error: str | None = None

    def settings(self, spec: TargetSpec) -> TargetSettings:
        c = self.cfg
        return TargetSettings(
            connect_timeout=spec.connect_timeout or c.connect_timeout,
            read_timeout=spec.read_timeout or c.read_timeout,
            retry=RetryPolicy(attempts=c.retries + 1, backoff=c.retry_backoff),
            failure_threshold=c.failure_threshold, reset_timeout=c.reset_timeout,
            ca_file=c.ca_file)

    def apply(self, modules: list[Module]) -> None:
        """Make `modules` the live table (targets kept where unchanged: breakers survive)."""
        names = []
        proxies = []
        unrouted: dict[str, list[str]] = {}
        for m in modules:
            if m.assets is not None:
                self.registry.ensure(m.asset_target, m.assets.url, policy=m.assets.policy,
                                     settings=self.settings(m.assets))
                names.append(m.asset_target)
            for p in m.proxies:
                self.registry.ensure(p.target, p.spec.url, policy=p.spec.policy,
                                     settings=self.settings(p.spec))
                names.append(p.target)
                proxies.append(p)
                if not any(p.path == f or p.path.startswith(f + "/") for f in self.families):
                    unrouted.setdefault(m.name, []).append(p.path)
        for name, paths in unrouted.items():
            log.warning("module %s: proxy paths %s are outside the routes registered at start; "
                        "add them to plugins.federation.proxy_prefixes and restart", name,
                        ", ".join(paths))
        self.registry.retain(names)
        proxies.sort(key=lambda p: len(p.path), reverse=True)
        self.snapshot = Snapshot({m.name: m for m in modules}, tuple(proxies))
        self.unrouted = unrouted

    # -- lookups --------------------------------------------------------------------------------
    def module(self, name: str) -> Module:
        module = self.snapshot.modules.get(name)
        if module is None:
            raise ApiError(404, f"no federated module named {name!r}")
        return module

    def asset_target(self, name: str) -> Target:
        module = self.module(name)
        target = self.registry.get(module.asset_target) if module.assets else None
        if target is None:
            raise ApiError(404, f"module {name!r} has no asset server")
        return target

    def match(self, path: str) -> tuple[ProxyPath, Target, str]:
        """The proxy path owning `path`, its target and the rewritten upstream path."""
        for p in self.snapshot.proxies:
            if path == p.path or path.startswith(p.path + "/"):
                target = self.registry.get(p.target)
                if target is None:  # pragma: no cover - apply() keeps them in step
                    break
                return p, target, (p.rewrite + path[len(p.path):]) or "/"
        raise ApiError(404, f"no federated module serves {path}")

    def listing(self) -> list[dict[str, Any]]:
        return [{"name": m.name, "remoteEntry": m.remote_entry}
                for m in self.snapshot.modules.values()]

    def health(self, probes: dict[str, str | None]) -> list[dict[str, Any]]:
        out = []
        for m in self.snapshot.modules.values():
            targets = []
            if m.assets is not None:
                targets.append(m.asset_target)
            targets += [p.target for p in m.proxies]
            states = {t: (self.registry.get(t).breaker.state if self.registry.get(t) else "gone")
                      for t in targets}
            problem = probes.get(m.name)
            healthy = problem is None and all(s != "open" for s in states.values())
            entry: dict[str, Any] = {"name": m.name, "remoteEntry": m.remote_entry,
                                     "healthy": healthy, "breakers": states}
            if problem:
                entry["problem"] = problem
            if m.name in self.unrouted:
                entry["unroutedPaths"] = self.unrouted[m.name]
            out.append(entry)
        return out
