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
    with_main = {p.stem for p in BENCH.glob("*.py") if any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "main"
        for n in ast.parse(p.read_text()).body)}
    assert {"core", "s3", "k8s", "watch", "hf", "federation", "sandbox_kube"} <= with_main
    # Not the runner itself, not the soak test (`make soak`), not the helpers without main.
    assert list(runner.benchmarks()) == sorted(with_main - {"__main__", "soak"})
