"""Workbench plugin: OpenAI-compatible servers as a remote chat backend and embedder.

Registers the backend type ``openai``; each ``[backends.NAME]`` block with
``type = "openai"`` becomes a backend called NAME whose model is listed as ``NAME:MODEL``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.backends.remote import RemoteBackend
from workbench.backends.remote.transport import Transport
from workbench.config import BackendConfig
from workbench.hookspecs import hookimpl
from workbench_openai.client import OpenAIChat, list_models
from workbench_openai.embeddings import OpenAIEmbedder

__all__ = ["OpenAIBackend", "OpenAIChat", "OpenAIEmbedder", "OpenAIType", "list_models"]


@dataclass
class OpenAIBackend(RemoteBackend):
    """One configured OpenAI-compatible server."""

    def load(self, model: Any, settings: Any) -> OpenAIChat:
        return OpenAIChat(self.transport, self.config.model, context_size=settings.context_size)

    def embedder(self) -> OpenAIEmbedder:
        """The server's ``/v1/embeddings`` with this block's model, as the library's embedder."""
        return OpenAIEmbedder(self.transport, self.config.model)

    def check(self) -> list[str]:
        """The models the server serves, asked once even while the breaker is open."""
        return list_models(self.transport, probe=True)


class OpenAIType:
    """The ``openai`` backend type: connects a config block to its server."""

    name = "openai"
    remote = True

    def connect(self, config: BackendConfig, transport: Transport) -> OpenAIBackend:
        return OpenAIBackend(config, transport)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "remote", "protocol": "OpenAI-compatible"}


@hookimpl
def register_backends(register: Callable[[str, Callable[[], Any]], None]) -> None:
    register("openai", OpenAIType)
