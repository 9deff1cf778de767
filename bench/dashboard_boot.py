"""Dashboard boot routes benchmark (issue 12): the watch-cached boot routes through odh-core vs
listing the same objects straight from the sandbox API server (what a backend without caches
would do per request), in one run.

    .venv/bin/python -m bench.dashboard_boot

Needs wrk. The sandbox (`odh-core sandbox`, seeded from conf/sandbox) and odh-core run as
separate processes.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .common import (PYTHON, ROOT, Child, SandboxChild, free_port, report, wait_http,
                     write_odh_config, wrk)

RUNS, SECONDS = 3, 3
PAIRS = {  # route -> the list it answers from
    "components": ("/api/components",
                   "/apis/dashboard.opendatahub.io/v1/namespaces/opendatahub/odhapplications"),
    "dsc_status": ("/api/dsc/status",
                   "/apis/datasciencecluster.opendatahub.io/v2/datascienceclusters"),
    "quickstarts": ("/api/quickstarts",
                    "/apis/console.openshift.io/v1/namespaces/opendatahub/odhquickstarts"),
}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="odh-bench-boot-"))
    oport = free_port()
    with SandboxChild(tmp) as sandbox:
        tokens, ca_file = sandbox.tokens, sandbox.ca_file
        secure = sandbox.https_url
        cfg = write_odh_config(tmp / "odh.yaml", secure, sandbox.service_account_token,
                               {"dashboard": {}}, ca_file=ca_file)
        alice = {"Authorization": f"Bearer {tokens['alice']}"}
        sa = {"Authorization": f"Bearer {sandbox.service_account_token}"}
        with Child([PYTHON, "-m", "odh_core", "serve", "--config", str(cfg), "--host",
                    "127.0.0.1", "--port", str(oport)], cwd=str(ROOT), log=tmp / "odh.log"):
            base = f"http://127.0.0.1:{oport}"
            for route, _ in PAIRS.values():
                wait_http(base + route, headers=alice)  # caches warm
            for name, (route, listing) in PAIRS.items():
                via, direct = [], []
                for _ in range(RUNS):  # interleaved, so drift hits both alike
                    direct.append(wrk(secure + listing, seconds=SECONDS, headers=sa))
                    via.append(wrk(base + route, seconds=SECONDS, headers=alice))
                med = lambda rs, k: sorted(r[k] for r in rs)[len(rs) // 2]  # noqa: E731
                report(f"boot_{name}_rps", med(via, "rps"), "req/s")
                report(f"boot_{name}_direct_list_rps", med(direct, "rps"), "req/s")
                report(f"boot_{name}_rps_ratio", med(via, "rps") / med(direct, "rps"), "x",
                       ">= 1 (cache vs a list per request)")
                report(f"boot_{name}_p99_ms", med(via, "p99_ms"), "ms")
            shell = [wrk(base + "/", seconds=SECONDS) for _ in range(RUNS)]
            report("boot_shell_no_build_rps", sorted(r["rps"] for r in shell)[RUNS // 2],
                   "req/s")


if __name__ == "__main__":
    main()
