"""`python -m bench`: every benchmark module in turn (each prints `name: value unit (target)`).

A benchmark is a module of this package whose `main` (sync or async) takes no arguments;
helpers have none, or one that needs arguments (the child-process servers). The soak test
has its own target, `make soak`.
`python -m bench core s3` runs only those.
"""
import asyncio
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path
from typing import Any, Callable

SKIP = {"soak"}


def benchmarks() -> dict[str, Callable[[], Any]]:
    """Module name -> its main, for every benchmark of the package, in name order."""
    found = {}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if info.name in SKIP or info.name.startswith("_"):
            continue
        entry = getattr(importlib.import_module(f"bench.{info.name}"), "main", None)
        if entry is not None and not any(
                p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                for p in inspect.signature(entry).parameters.values()):
            found[info.name] = entry
    return found


def main() -> int:
    only = set(sys.argv[1:])
    del sys.argv[1:]  # each benchmark reads its own arguments: here it runs with defaults
    failed = 0
    for name, entry in benchmarks().items():
        if only and name not in only:
            continue
        print(f"# bench.{name}", flush=True)
        try:
            result = entry()
            if inspect.isawaitable(result):
                asyncio.run(result)
        except Exception as exc:  # one broken benchmark must not hide the others
            failed += 1
            print(f"# bench.{name} failed: {type(exc).__name__}: {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
