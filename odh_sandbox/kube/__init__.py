"""The sandbox Kubernetes API server: in memory, real REST protocol, http + https.

`SandboxKubeServer` runs on the current asyncio loop (`odh-core serve`, async tests);
`SandboxKube` runs the same server in a background thread (session-scoped test fixtures).
"""
from .faults import FaultInjector
from .server import RequestLog, SandboxKube, SandboxKubeServer

__all__ = ["FaultInjector", "RequestLog", "SandboxKube", "SandboxKubeServer"]
