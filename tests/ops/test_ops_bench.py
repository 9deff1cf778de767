"""`make bench` runs `python -m bench`: every module must compile, and the runner must find
every benchmark (a module with `main`) without running any (they take minutes)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_every_bench_module_compiles() -> None:
    for path in sorted(BENCH.glob("*.py")):
        compile(path.read_text(), str(path), "exec")  # a SyntaxError names the file


def test_the_runner_finds_each_benchmark_and_only_those() -> None:
    runner = importlib.import_module("bench.__main__")
    def mains(path: Path) -> list[ast.arguments]:
        return [n.args for n in ast.parse(path.read_text()).body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "main"]

    runnable = {p.stem for p in BENCH.glob("*.py") if any(
        not a.args or len(a.defaults) == len(a.args) for a in mains(p))}
    assert {"core", "s3", "k8s", "watch", "hf", "federation", "sandbox_kube"} <= runnable
    assert "core_servers" not in runnable  # a child-process server: its main takes arguments
    # Not the runner itself, not the soak test (`make soak`).
    assert list(runner.benchmarks()) == sorted(runnable - {"__main__", "soak"})
