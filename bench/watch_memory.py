"""Where an idle watch socket's memory goes: tracemalloc in the server, by allocation site.

    .venv/bin/python -m bench.watch_memory <mode> [sockets]

Starts the sandbox and odh-core (the watch plugin in `mode`) with tracemalloc on, opens a
few sockets, takes a snapshot, opens `sockets` more (100 users round-robin, one resource),
takes another and prints the growth per socket by line and by traceback, next to the RSS
growth per socket (the difference is native memory: OpenSSL's per-connection state, malloc
slack). Not a benchmark of `make bench` (it takes an argument): a tool for issue 22's
question "where do the KiB go".
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from .common import PYTHON, ROOT, Child, free_port, rss_bytes
from .watch import (NAME, NS, Group, connect, prepared_sandbox, until_healthy,
                    write_odh_config)
from .watch_servers import raise_nofile

TOP = 25


def traced_server(config: str, port: int, out: str) -> None:
    """The child: odh-core with tracemalloc; SIGUSR1 takes the baseline, SIGUSR2 reports."""
    from .watch_servers import odh

    snaps: dict[str, Any] = {}

    def baseline(*_: Any) -> None:
        snaps["base"] = tracemalloc.take_snapshot()

    def dump(*_: Any) -> None:
        diff = tracemalloc.take_snapshot()
        with open(out + ".tmp", "w") as f:
            for key in ("lineno", "traceback"):
                for st in diff.compare_to(snaps["base"], key)[:TOP]:
                    frames = [str(fr) for fr in st.traceback[-6:]]
                    f.write(f"{st.size_diff:12d} {st.count_diff:8d} " + " <- ".join(
                        reversed(frames) if key == "traceback" else frames[-1:]) + "\n")
                f.write("--\n")
        os.replace(out + ".tmp", out)

    tracemalloc.start(8)
    signal.signal(signal.SIGUSR1, baseline)
    signal.signal(signal.SIGUSR2, dump)
    asyncio.run(odh(config, port))


async def amain(mode: str, n: int) -> None:
    async with prepared_sandbox("odh-bench-watch-memory-") as (tmp, sb, _):
        config = write_odh_config(tmp / "odh.yaml", sb, mode)
        port, out = free_port(), str(tmp / "tracemalloc.txt")
        with Child([PYTHON, "-m", "bench.watch_memory", "--child", str(config), str(port), out],
                   cwd=str(ROOT), log=tmp / "odh.log") as child:
            await until_healthy(port)
            url = (f"ws://127.0.0.1:{port}/wss/k8s/api/v1/namespaces/{NS}/configmaps"
                   f"?watch=true&fieldSelector=metadata.name%3D{NAME}")
            tokens = list(sb["users"].values())
            group = Group()
            await connect(group, url, tokens[:2])
            await asyncio.sleep(1)
            os.kill(child.pid, signal.SIGUSR1)
            await asyncio.sleep(1)
            rss0 = rss_bytes(child.pid)
            await connect(group, url, [tokens[i % len(tokens)] for i in range(2, n + 2)])
            await asyncio.sleep(3)
            rss1 = rss_bytes(child.pid)
            os.kill(child.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 300
            while not os.path.exists(out):
                if time.monotonic() > deadline:
                    raise TimeoutError("no tracemalloc report")
                await asyncio.sleep(0.2)
            group.close()
    print(f"mode {mode}: {n} sockets, RSS growth {(rss1 - rss0) / n / 1024:.1f} KiB per "
          "socket (tracemalloc itself adds to it); Python allocations per socket:")
    for line in Path(out).read_text().splitlines():
        if line == "--":
            print("-- by traceback (newest frame first):")
            continue
        size, count, where = line.split(maxsplit=2)
        print(f"{int(size) / n / 1024:8.2f} KiB {int(count) / n:6.1f} blocks  {where}")


def main(mode: str) -> None:
    raise_nofile()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    asyncio.run(amain(mode, n))


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "plugins"))
    if sys.argv[1] == "--child":
        raise_nofile()
        traced_server(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main(sys.argv[1])
