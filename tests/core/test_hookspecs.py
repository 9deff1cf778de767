"""The contract is documented: every hook has a real docstring (datasette's rule)."""
import inspect

from odh_core import hookspecs


def hook_functions():
    return [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(f, "odh_core_spec")]


def test_there_are_hooks():
    names = {f.__name__ for f in hook_functions()}
    assert {"register_routes", "startup", "shutdown", "identify_request", "authorize",
            "prepare_request", "request_finished", "handle_exception",
            "register_health_checks", "register_commands"} <= names


def test_every_hook_is_documented():
    undocumented = [f.__name__ for f in hook_functions()
                    if len((inspect.getdoc(f) or "").split()) < 15]
    assert undocumented == []


def test_no_hook_is_firstresult():
    # pluggy cannot await: a firstresult hook with an async impl would return a coroutine.
    assert [f.__name__ for f in hook_functions() if f.odh_core_spec.get("firstresult")] == []
