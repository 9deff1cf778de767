"""`python -m bench`: every benchmark module in turn (each prints `name: value unit (target)`)."""
import importlib
import pkgutil
import sys
from pathlib import Path

SKIP = {"common", "core_servers", "__main__"}


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent))
                   if m.name not in SKIP and not m.name.startswith("_"))
    only = set(sys.argv[1:])
    failed = 0
    for name in names:
        if only and name not in only:
            continue
        print(f"# bench.{name}", flush=True)
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as exc:  # one broken benchmark must not hide the others
            failed += 1
            print(f"# bench.{name} failed: {type(exc).__name__}: {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
