"""Remote backends' infrastructure: the transport every remote call passes (``transport.py``)
and its retries and circuit breaker (``resilience.py``). Protocols live in plugins."""

from __future__ import annotations

from typing import Any

from workbench.backends.remote.resilience import CircuitBreaker, RetryPolicy
from workbench.backends.remote.transport import Transport
from workbench.config import BackendConfig


def transport_for(config: BackendConfig, settings: Any) -> Transport:
    """The transport of one [backends.NAME] block; offline mode is read per request, so
    turning it on stops every backend at once."""
    return Transport(
        config.name, config.base_url, offline=lambda: bool(settings.offline),
        api_key_env=config.api_key_env, timeout_s=config.timeout_s,
        connect_timeout_s=config.connect_timeout_s,
        retry=RetryPolicy(max_retries=config.max_retries), breaker=CircuitBreaker(config.name),
    )  # fmt: skip
