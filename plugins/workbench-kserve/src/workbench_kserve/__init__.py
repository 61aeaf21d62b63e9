"""Workbench plugin: Open Inference Protocol v2 servers (KServe, Inferless, Triton) as a
remote chat backend.

Registers the backend type ``kserve``; each ``[backends.NAME]`` block with
``type = "kserve"`` becomes a backend called NAME whose model is listed as ``NAME:MODEL``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.backends.remote import RemoteBackend
from workbench.backends.remote.resilience import RemoteError
from workbench.backends.remote.transport import Transport
from workbench.config import BackendConfig
from workbench.hookspecs import hookimpl
from workbench_kserve.client import KServeChat, model_ready, render, server_name

__all__ = ["KServeBackend", "KServeChat", "KServeType", "model_ready", "render", "server_name"]


@dataclass
class KServeBackend(RemoteBackend):
    """One configured v2 inference server; its chat model is made once and reused."""

    _chat: KServeChat | None = None

    def load(self, model: Any, settings: Any) -> KServeChat:
        if self._chat is None:
            self._chat = KServeChat(
                self.transport, self.config.model, self.config.input_name,
                self.config.output_name, context_size=settings.context_size,
            )  # fmt: skip
        return self._chat

    def check(self) -> list[str]:
        """The configured model, when the server is ready and has it loaded (asked once,
        even while the breaker is open)."""
        if not model_ready(self.transport, self.config.model, probe=True):
            raise RemoteError(
                f"'{self.name}' has the model '{self.config.model}' but it is not ready yet "
                "(still loading?): check again shortly.",
                retryable=True,
            )
        return [self.config.model]


class KServeType:
    """The ``kserve`` backend type: connects a config block to its server."""

    name = "kserve"
    remote = True

    def connect(self, config: BackendConfig, transport: Transport) -> KServeBackend:
        return KServeBackend(config, transport)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "remote", "protocol": "Open Inference Protocol v2"}


@hookimpl
def register_backends(register: Callable[[str, Callable[[], Any]], None]) -> None:
    register("kserve", KServeType)
