"""Remote backends' infrastructure: the transport every remote call passes (``transport.py``)
and its retries and circuit breaker (``resilience.py``). Protocols live in plugins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.backends.remote.receipts import Journal
from workbench.backends.remote.resilience import CircuitBreaker, RetryPolicy
from workbench.backends.remote.transport import Transport
from workbench.config import BackendConfig


def transport_for(
    config: BackendConfig, settings: Any, journal: Journal | None = None
) -> Transport:
    """The transport of one [backends.NAME] block; offline mode is read per request, so
    turning it on stops every backend at once."""
    return Transport(
        config.name, config.base_url, offline=lambda: bool(settings.offline),
        api_key_env=config.api_key_env, timeout_s=config.timeout_s,
        connect_timeout_s=config.connect_timeout_s,
        retry=RetryPolicy(max_retries=config.max_retries), breaker=CircuitBreaker(config.name),
        journal=journal,
    )  # fmt: skip


@dataclass
class RemoteBackend:
    """What every remote backend is: a [backends.NAME] block and the transport to its server.
    Plugins add ``load(model, settings)`` and ``check()`` in their protocol."""

    config: BackendConfig
    transport: Transport

    @property
    def name(self) -> str:
        return self.config.name

    def describe(self) -> dict[str, Any]:
        """Recorded with each answer (``params.runtime``): never the key."""
        assert self.transport.breaker is not None
        return {"name": self.name, "type": self.config.type, "host": self.transport.host,
                "model": self.config.model, "breaker": self.transport.breaker.state}  # fmt: skip
