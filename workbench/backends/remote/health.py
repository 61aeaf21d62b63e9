"""Backend health: `workbench backends list` and `workbench backends check NAME`.

A check asks the backend's server whether it is ready and which models it serves (each
protocol knows how: ``backend.check()``), times it, and reports what stands in the way:
an unreachable host, a refused key, a model the server does not serve, offline mode. The
check is a probe: it goes through even while the breaker is open, and its outcome closes or
reopens the breaker.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.config import BackendConfig
from workbench.errors import WorkbenchError


@dataclass
class BackendHealth:
    """One configured backend: what it is, and how its last check went (if it was checked)."""

    name: str
    type: str
    host: str
    model: str
    fallback: str
    key: str  # where its key comes from: environment, keyring, missing, none
    breaker: str = "closed"  # closed, open, half-open
    state: str = "not checked"  # ready, failing, offline, not installed, not checked
    latency_ms: float | None = None
    models: list[str] = field(default_factory=list)  # what the server says it serves
    error: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"ready": self.ready}


def describe(config: BackendConfig, backend: Any | None) -> BackendHealth:
    """What the config and the backend's transport say, without asking the server."""
    transport = getattr(backend, "transport", None)
    health = BackendHealth(
        config.name, config.type, transport.host if transport else config.base_url,
        config.model, config.fallback, transport.key()[1] if transport else "none",
    )  # fmt: skip
    if backend is None:
        health.state = "not installed"
        health.error = f"no backend type '{config.type}' is installed"
    elif transport is not None and transport.breaker is not None:
        health.breaker = transport.breaker.state
    return health


def check(config: BackendConfig, backend: Any | None, offline: bool) -> BackendHealth:
    """Ask the server (once, timed) whether it is ready and serves the configured model."""
    health = describe(config, backend)
    if backend is None:
        return health
    if offline:
        health.state, health.error = "offline", "offline mode is on: the server was not asked"
        return health
    started = time.perf_counter()
    try:
        health.models = backend.check()
    except WorkbenchError as exc:
        health.state, health.error = "failing", exc.message
    else:
        health.state = "ready"
        if config.model and health.models and config.model not in health.models:
            health.state = "failing"
            health.error = (
                f"the server does not serve '{config.model}' (it serves: "
                f"{', '.join(health.models[:8])}); fix model in [backends.{config.name}]"
            )
    health.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    breaker = getattr(getattr(backend, "transport", None), "breaker", None)
    health.breaker = breaker.state if breaker is not None else health.breaker  # after the probe
    return health
