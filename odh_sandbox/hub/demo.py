"""The demo models `odh-core serve --sandbox` puts on its sandbox hub."""

from __future__ import annotations

import json

from .content import SizedFile
from .server import SandboxHub

DEMO_TOKEN = "hf_sandbox_demo_token"
DEMO_USER = "sandbox-user"


def _config(model_type: str) -> bytes:
    return json.dumps({"architectures": ["SandboxForCausalLM"], "model_type": model_type,
                       "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 256},
                      indent=2).encode()


def _tokenizer() -> bytes:
    vocab = {chr(c): c - 32 for c in range(32, 127)}
    return json.dumps({"version": "1.0", "model": {"type": "WordLevel", "vocab": vocab,
                                                   "unk_token": "?"}}).encode()


def seed_demo(hub: SandboxHub) -> None:
    """A public tiny model, a gated one (granted to the demo user) and a private one.

    The demo token ``hf_sandbox_demo_token`` belongs to ``sandbox-user``.
    """
    hub.add_token(DEMO_TOKEN, DEMO_USER, display_name="sandbox-demo")
    readme = b"---\nlicense: apache-2.0\n---\n# A sandbox model\n\nGenerated test data.\n"
    hub.add_model("sandbox-org/tiny-model", {
        "README.md": readme,
        "config.json": _config("sandbox"),
        "tokenizer.json": _tokenizer(),
        "model.safetensors": SizedFile(size=4 * 1024 * 1024, seed=1),
    })
    hub.add_model("sandbox-org/gated-model", {
        "README.md": readme,
        "config.json": _config("sandbox"),
        "model.safetensors": SizedFile(size=2 * 1024 * 1024, seed=2),
    }, gated="manual", allowed_users=[DEMO_USER])
    hub.add_model("sandbox-org/private-model", {
        "config.json": _config("sandbox"),
        "model.safetensors": SizedFile(size=1024 * 1024, seed=3),
    }, private=True, allowed_users=[DEMO_USER])
