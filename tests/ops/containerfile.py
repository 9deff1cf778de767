"""A small Containerfile reader for the ops tests: stages and their instructions.

Enough of the syntax for our own file (line continuations, comments, `FROM ... AS name`,
ARG defaults in FROM); not a general parser.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    op: str          # upper-case keyword
    args: str        # the rest, continuations joined
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, else None."""
        text = self.args
        if self.op == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in f" {text}" else ""
        text = text.strip()
        if not text.startswith("["):
            return None
        return json.loads(text)


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]

    def last(self, op: str) -> Instruction | None:
        found = self.all(op)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for ins in self.all("ENV"):
            for token in shlex.split(ins.args):
                key, sep, value = token.partition("=")
                if sep:
                    out[key] = value
        return out


def instructions(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # comments inside a continued instruction
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        op, _, args = buf.partition(" ")
        out.append(Instruction(op.upper(), " ".join(args.split()), start))
        buf = ""
    return out


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages)."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions(path.read_text()):
        if ins.op == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", ins.args, re.I)
            assert m, f"unreadable FROM at line {ins.line}"
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                           lambda g: args.get(g.group(1) or g.group(2), g.group(0)), m.group(1))
            stages.append(Stage(image, m.group(2)))
        elif not stages:
            if ins.op == "ARG":
                key, _, value = ins.args.partition("=")
                args[key] = value
        else:
            stages[-1].instructions.append(ins)
    return args, stages
