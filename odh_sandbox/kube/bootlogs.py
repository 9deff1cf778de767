"""What a container printed when it started, for the pods the sandbox knows how to fake.

The sandbox runs no containers, so `kubectl logs` of a seeded pod would print nothing. A Ray
head (KubeRay labels it `ray.io/node-type: head`) gets the lines `ray start --head` prints, so
the dashboard's Ray job-log view and `kubectl logs` show what they would on a cluster.
"""
from __future__ import annotations

from typing import Any

RAY_HEAD_LABEL = "ray.io/node-type"


def _ray_head(ip: str) -> list[str]:
    return [
        "INFO usage_lib.py:467 -- Usage stats collection is enabled by default without user "
        "confirmation because this terminal is detected to be non-interactive. To disable "
        "this, add `--disable-usage-stats` to the command that starts the cluster, or run the "
        "following command: `ray disable-usage-stats` before starting the cluster. See "
        "https://docs.ray.io/en/master/cluster/usage-stats.html for more details.",
        f"INFO scripts.py:767 -- Local node IP: {ip}",
        "SUCC scripts.py:804 -- --------------------",
        "SUCC scripts.py:805 -- Ray runtime started.",
        "SUCC scripts.py:806 -- --------------------",
        "INFO scripts.py:808 -- Next steps",
        "INFO scripts.py:811 -- To add another node to this Ray cluster, run",
        f"INFO scripts.py:814 --   ray start --address='{ip}:6379'",
        "INFO scripts.py:823 -- To connect to this Ray cluster:",
        "INFO scripts.py:825 -- import ray",
        "INFO scripts.py:826 -- ray.init()",
        "INFO scripts.py:838 -- To submit a Ray job using the Ray Jobs CLI:",
        f"INFO scripts.py:839 --   RAY_ADDRESS='http://{ip}:8265' ray job submit "
        "--working-dir . -- python my_script.py",
        "INFO scripts.py:848 -- See https://docs.ray.io/en/latest/cluster/running-"
        "applications/job-submission/index.html ",
        "INFO scripts.py:852 -- for more information on submitting Ray jobs to the Ray cluster.",
        "INFO scripts.py:857 -- To terminate the Ray runtime, run",
        "INFO scripts.py:858 --   ray stop",
        "INFO scripts.py:861 -- To view the status of the cluster, use",
        "INFO scripts.py:862 --   ray status",
        "INFO scripts.py:866 -- To monitor and debug Ray, view the dashboard at ",
        f"INFO scripts.py:867 --   {ip}:8265",
        "INFO scripts.py:874 -- If connection to the dashboard fails, check your firewall "
        "settings and network configuration.",
        "INFO scripts.py:905 -- --block",
        "INFO scripts.py:906 -- This command will now block forever until terminated by a "
        "signal.",
        "INFO scripts.py:909 -- Running subprocesses are monitored and a message will be "
        "printed if any of them terminate unexpectedly. Subprocesses exit with SIGTERM will "
        "be treated as graceful, thus NOT reported.",
    ]


def boot_lines(pod: dict[str, Any]) -> list[tuple[str, str]]:
    """(container, line) pairs a newly created pod's containers printed on start."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    if labels.get(RAY_HEAD_LABEL) != "head" or not containers:
        return []
    ip = (pod.get("status") or {}).get("podIP") or "10.128.2.15"
    name = containers[0].get("name", "")
    return [(name, line) for line in _ray_head(ip)]
