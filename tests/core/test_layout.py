"""The package layout the architecture promises, checked on the source.

- `odh_sandbox` is a product of its own (an API server emulator, an S3 endpoint, a hub): it
  imports nothing from `odh_core`, so a third party could ship it, and the core reads as the
  plugin host alone.
- The core's modules import each other without circles at run time (function-level imports
  count: deferring an import hides a circle, it does not remove it). Imports under
  `if TYPE_CHECKING:` are annotations only and are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of the modules a file imports (anywhere in it)."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        here = parts
    else:
        here = parts[:-1]
    out: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            # `from . import x` may name a submodule.
            out.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in out if m == package or m.startswith(package + ".")}


def _modules(package: str) -> dict[str, Path]:
    mods = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def test_sandbox_imports_nothing_from_the_core() -> None:
    offenders = {name: sorted(_imports(path, "odh_core"))
                 for name, path in _modules("odh_sandbox").items()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_core_modules_import_without_circles() -> None:
    mods = _modules("odh_core")
    graph = {name: {m for m in _imports(path, "odh_core") if m in mods and m != name}
             for name, path in mods.items()}
    # A package's own __init__ re-exporting its modules is not a circle.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
