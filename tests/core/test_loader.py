"""Plugin discovery, enablement and refusal of broken setups, each with a message naming the
problem."""
from dataclasses import dataclass

import pytest

from odh_core import BaseHandler, Plugin, Route, hookimpl
from odh_core.app import App
from odh_core.config import validate_settings
from odh_core.loader import PluginLoadError, discover

BASE = {"sandbox": {"mode": "off"}}


@dataclass
class FakeDist:
    name: str
    version: str = "1.0"


@dataclass
class FakeEP:
    """importlib.metadata.EntryPoint's shape, pointing at this module's classes."""

    name: str
    value: str
    dist: FakeDist

    def load(self):
        module, _, attr = self.value.partition(":")
        if module == "missing.module":
            raise ModuleNotFoundError("No module named 'missing'")
        return globals()[attr]


class Hello(BaseHandler):
    def get(self):
        self.ok("hi")


class GoodPlugin(Plugin):
    @hookimpl
    def register_routes(self):
        return [Route(r"/api/good", Hello)]


class TypoHookPlugin(Plugin):
    @hookimpl
    def register_route(self):  # misspelt: must not be silently ignored
        return []


class NotAHandler:
    pass


class BadHandlerPlugin(Plugin):
    @hookimpl
    def register_routes(self):
        return [Route(r"/api/bad", NotAHandler)]


class DupRoutePlugin(Plugin):
    @hookimpl
    def register_routes(self):
        return [Route(r"/api/good", Hello)]


def app_with(eps, config=None):
    return App(validate_settings({**BASE, **(config or {})}), entry_points=eps)


def ep(name, attr, dist="pkg"):
    return FakeEP(name, f"tests.core.test_loader:{attr}", FakeDist(dist))


def test_enabled_by_default_and_routes_registered():
    app = app_with([ep("good", "GoodPlugin")])
    assert app.plugin("good") is not None
    assert ("good", "/api/good") in [(p, r.pattern) for p, r in app.routes]


def test_disabled_plugin_is_not_imported_and_contributes_nothing():
    app = app_with([FakeEP("off", "missing.module:X", FakeDist("x"))],
                   {"plugins": {"off": {"enabled": False}}})
    assert app.plugin("off") is None and app.plugins["off"].cls is None


def test_autoload_false_is_an_allowlist():
    app = app_with([ep("good", "GoodPlugin")], {"plugin_autoload": False})
    assert app.plugin("good") is None
    app = app_with([ep("good", "GoodPlugin")],
                   {"plugin_autoload": False, "plugins": {"good": {"enabled": True}}})
    assert app.plugin("good") is not None


def test_unknown_plugin_name_in_config():
    with pytest.raises(PluginLoadError, match=r"not installed: godo \(installed: good\)"):
        app_with([ep("good", "GoodPlugin")], {"plugins": {"godo": {}}})


def test_two_distributions_one_name():
    with pytest.raises(PluginLoadError, match="claimed by two distributions: a .* and b"):
        discover([ep("good", "GoodPlugin", "a"), ep("good", "GoodPlugin", "b")])


def test_import_failure_names_the_plugin():
    with pytest.raises(PluginLoadError, match="plugin 'broken' .* failed to import: "
                       "ModuleNotFoundError"):
        app_with([FakeEP("broken", "missing.module:X", FakeDist("x"))])


def test_config_typo_names_the_plugin_and_key():
    with pytest.raises(PluginLoadError, match=r"plugin 'example' config is invalid: "
                       r"plugins\.example\.gretting: unknown key"):
        App(validate_settings({**BASE, "plugin_autoload": False,
                               "plugins": {"example": {"enabled": True, "gretting": "Hi"}}}))


def test_hook_without_spec_is_refused():
    with pytest.raises(PluginLoadError, match="typo.*register_route"):
        app_with([ep("typo", "TypoHookPlugin")])


def test_handler_must_derive_from_base_classes():
    with pytest.raises(PluginLoadError, match="does not derive from odh_core.BaseHandler"):
        app_with([ep("bad", "BadHandlerPlugin")])


def test_duplicate_route_pattern_is_refused():
    with pytest.raises(PluginLoadError, match="already registered by plugin 'good'"):
        app_with([ep("good", "GoodPlugin"), ep("dup", "DupRoutePlugin")])


def test_enabled_flag_must_be_boolean():
    with pytest.raises(PluginLoadError, match="enabled must be true or false"):
        app_with([ep("good", "GoodPlugin")], {"plugins": {"good": {"enabled": "yes"}}})
