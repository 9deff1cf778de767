"""The settings areas' routes (issue 13): connection types, serving-runtime templates, model
registry settings, the Jupyter tile's notebooks."""
from __future__ import annotations

from odh_core import Route

from .connection_types import connection_type_routes
from .model_registry import model_registry_routes
from .notebooks import notebook_routes
from .templates import template_routes


def settings_routes() -> list[Route]:
    return [*connection_type_routes(), *template_routes(), *model_registry_routes(),
            *notebook_routes()]
