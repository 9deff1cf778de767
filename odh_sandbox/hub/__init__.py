"""Sandbox Hugging Face Hub: a local server speaking the hub API an importer needs.

    hub = SandboxHub(tokens={"hf_x": "alice"}).start_in_thread()
    hub.add_model("org/m", {"config.json": b"{}", "model.safetensors": SizedFile(200 << 20, seed=1)})
    ... HF_ENDPOINT=hub.endpoint ...
    hub.stop_thread()
"""

from .content import BytesFile, FileSource, SizedFile
from .demo import DEMO_TOKEN, DEMO_USER, seed_demo
from .faults import FaultRule, Faults
from .server import RequestRecord, SandboxHub, Token, parse_range

__all__ = [
    "DEMO_TOKEN",
    "DEMO_USER",
    "BytesFile",
    "FaultRule",
    "Faults",
    "FileSource",
    "RequestRecord",
    "SandboxHub",
    "SizedFile",
    "Token",
    "parse_range",
    "seed_demo",
]
