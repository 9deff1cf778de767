"""Configuration of the `k8s` plugin (`plugins.k8s` in odh.yaml)."""
from __future__ import annotations

from pydantic import Field

from odh_core import PluginConfig


class K8sConfig(PluginConfig):
    connect_timeout: float | None = Field(
        None, gt=0, description="Seconds to open a connection to the API server; unset: "
        "kubernetes.connect_timeout. Past it the pass-through answers 504.")
    idle_timeout: float = Field(
        60.0, gt=0, description="Seconds an ordinary request may wait for the next bytes from "
        "the API server (headers or body); past it the pass-through answers 504 (or cuts a "
        "response already under way).")
    stream_grace: float = Field(
        30.0, ge=0, description="Watches and followed logs have no idle timeout unless they "
        "carry timeoutSeconds; then it is timeoutSeconds plus this grace.")
