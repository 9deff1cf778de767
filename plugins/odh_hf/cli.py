"""`odh-core hf import ORG/MODEL --bucket B [--prefix P] [--revision R]` and
`odh-core hf import --job NAME [--credentials DIR]`.

The first creates an ImportJob (as the replicas do) and runs it in this process; the second
runs an existing one: what the Job executor's pod does, with the job's Secret mounted at DIR.
Both run the same worker as the server (Lease, status, resume) and draw a progress bar per
file and one overall (redrawn in place on a terminal; one line per finished file otherwise).
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from odh_core import ApiError

from . import validate
from .jobs import ImportRequest
from .resource import Job

BAR = 24


def add_commands(plugin: Any, subparsers: Any) -> None:
    hf = subparsers.add_parser("hf", help="Hugging Face imports")
    sub = hf.add_subparsers(dest="hf_command", required=True)
    p = sub.add_parser("import", help="import a model from the hub into S3")
    p.add_argument("repo", metavar="ORG/MODEL", nargs="?")
    p.add_argument("--job", help="run the existing ImportJob NAME (the Job executor)")
    p.add_argument("--credentials", help="directory holding the job's Secret keys (mounted)")
    p.add_argument("--bucket", help="target bucket (default: the configured default bucket)")
    p.add_argument("--prefix", default="", help="key prefix; objects land under "
                   "<prefix><org>/<model>/<file>")
    p.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    p.add_argument("--include", action="append", default=[], help="glob of files to take")
    p.add_argument("--exclude", action="append", default=[], help="glob of files to skip")
    p.add_argument("--config", help="YAML config (default $ODH_CONFIG)")

    async def run(args: argparse.Namespace) -> int:
        plugin.cli = True  # before the app starts: this process runs only its own job
        return await run_import(plugin, args)

    p.set_defaults(func=run)


async def run_import(plugin: Any, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    app = plugin.ctx.app
    try:
        await app.start()
    except Exception as exc:
        print(f"odh-core hf import: {exc}", file=sys.stderr)
        return 2
    jobs = plugin.jobs
    try:
        try:
            if args.credentials:
                jobs.credentials = functools.partial(read_credentials, Path(args.credentials))
            if args.job:
                name = args.job
            else:
                if not args.repo:
                    raise ApiError(400, "give ORG/MODEL, or --job NAME")
                req = ImportRequest(
                    repo=validate.repo_id(args.repo), revision=validate.revision(args.revision),
                    bucket=validate.bucket(args.bucket) if args.bucket else None,
                    prefix=validate.prefix(args.prefix),
                    include=validate.patterns(args.include, "include"),
                    exclude=validate.patterns(args.exclude, "exclude"), executor="replica")
                name = (await jobs.start(None, req, "cli", via="cli")).name
            progress = Progress(jobs.watch, name, out)
            drawing = asyncio.create_task(progress.follow())
            try:
                job = await jobs.run_here(name)
            finally:
                await progress.stop(drawing)
        except ApiError as exc:
            print(f"odh-core hf import: {exc.message}", file=sys.stderr)
            return 1
        return 0 if job.status == "completed" else 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        await jobs.close()
        print("\ninterrupted: the job was handed back (another replica resumes it)", file=out)
        return 130
    finally:
        await app.stop()


def bar(done: int, total: int, width: int = BAR) -> str:
    frac = 1.0 if total <= 0 else min(done / total, 1.0)
    full = int(frac * width)
    return "[" + "#" * full + "-" * (width - full) + f"] {frac * 100:5.1f}%"


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


async def read_credentials(directory: Path) -> dict[str, str]:
    """The job Secret's keys as mounted (one file per key)."""
    def read() -> dict[str, str]:
        return {p.name: p.read_text() for p in directory.iterdir()
                if p.is_file() and not p.name.startswith(".")}

    return await asyncio.to_thread(read)


class Progress:
    """Draws the job from the watch; `follow` returns when the job ends."""

    def __init__(self, watch: Any, name: str, out: TextIO):
        self.watch = watch
        self.name = name
        self.out = out
        self._last: Job | None = None
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.drawn = 0
        self.reported: set[str] = set()
        self.started = time.monotonic()

    def lines(self) -> list[str]:
        job = self.job
        width = shutil.get_terminal_size((100, 20)).columns
        name_w = max(12, min(40, width - BAR - 40))
        rows = []
        for f in job.files.values():
            label = f.path if len(f.path) <= name_w else "…" + f.path[-(name_w - 1):]
            state = f.status if f.status != "failed" else f"failed: {f.error}"
            rows.append(f"{label:<{name_w}} {bar(f.loaded, f.size)} {human(f.size):>10} "
                        f"{state}")
        t = job.totals()
        rate = t["loaded"] / max(time.monotonic() - self.started, 1e-6)
        rows.append(f"{'overall':<{name_w}} {bar(t['loaded'], t['bytes'])} "
                    f"{human(t['bytes']):>10} {job.status} ({human(rate)}/s)")
        return rows

    def draw(self) -> None:
        if self.tty:
            if self.drawn:
                self.out.write(f"\x1b[{self.drawn}F")
            rows = self.lines()
            self.out.write("".join(f"\x1b[2K{r}\n" for r in rows))
            self.drawn = len(rows)
        else:
            rows = self.lines()
            for f, row in zip(self.job.files.values(), rows):
                if f.done and f.path not in self.reported:
                    self.reported.add(f.path)
                    self.out.write(row + "\n")
            if self.job.done:
                self.out.write(rows[-1] + "\n")
        self.out.flush()

    @property
    def job(self) -> Job:
        job = self.watch.job(self.name)
        if job is not None:
            self._last = job
        return self._last

    async def follow(self) -> None:
        await self.watch.ready(timeout=60)
        while self.watch.job(self.name) is None:
            await self.watch.wait_change(self.watch.version, 1.0)
        job = self.job
        print(f"importing {job.repo}@{job.commit[:12]} into "
              f"s3://{job.bucket}/{job.prefix}{job.repo}/ ({len(job.files)} files)",
              file=self.out)
        while True:
            version = self.watch.version
            self.draw()
            if self.job.done:
                break
            await self.watch.wait_change(version, 1.0)
            await asyncio.sleep(0.2)  # redraw at most ~5 times a second
        if self.job.error:
            print(f"{self.job.status}: {self.job.error}", file=self.out)

    async def stop(self, drawing: "asyncio.Task[None]") -> None:
        """Let the drawing see the final state (the watch delivers it), then stop it."""
        try:
            await asyncio.wait_for(asyncio.shield(drawing), 5)
        except asyncio.TimeoutError:
            drawing.cancel()
        await asyncio.gather(drawing, return_exceptions=True)
