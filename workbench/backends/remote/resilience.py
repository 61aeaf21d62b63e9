"""Retries and a circuit breaker: the one place remote calls get them (never at call sites).

What is retried: connection failures (refused, reset, DNS, connect timeout), a read that times
out, 429 (after its Retry-After when the server gives one, capped) and 5xx. Never a 4xx other
than 429: a bad request or a missing key does not get better by asking again. Waits grow
exponentially with full jitter, so clients that failed together do not return together.

A breaker per backend opens after ``failures`` calls in a row failed (each after its own
retries): while open, calls fail at once (the caller fails over without waiting on a dead
host); after ``reset_s`` one call is let through as a probe (half-open), and its outcome closes
or reopens the breaker.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
import tenacity
from opentelemetry.metrics import CallbackOptions, Observation

from workbench.core import telemetry
from workbench.errors import WorkbenchError

T = TypeVar("T")
MAX_RETRY_AFTER_S = 30.0  # a server asking for longer is treated as down


class RemoteError(WorkbenchError):
    """A remote call failed; ``retryable`` says whether asking again could help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message, "Remote backend failed")
        self.retryable = retryable
        self.status = status
        self.retry_after: float | None = None  # seconds the server asked to wait (429)


class BreakerOpen(RemoteError):
    """The backend failed repeatedly; calls are refused until its probe succeeds."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(
            f"The backend '{name}' failed several times in a row; Workbench stops calling it "
            f"for {seconds:.0f} s more, then tries once. `workbench backends check {name}` "
            "says what is wrong.",
            retryable=False,
        )


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RemoteError):
        return exc.retryable
    return isinstance(exc, httpx.TransportError)  # connect, read timeout, reset, protocol


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait (Retry-After as seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` more attempts after the first, waits from ``base_s`` up to ``cap_s``."""

    max_retries: int = 2
    base_s: float = 0.25
    cap_s: float = 4.0

    def call(self, attempt: Callable[[], T], on_retry: Callable[[BaseException], None]) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or retries run out."""
        jitter = tenacity.wait_random_exponential(multiplier=self.base_s, max=self.cap_s)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            asked = exc.retry_after if isinstance(exc, RemoteError) else None
            return min(float(asked), MAX_RETRY_AFTER_S) if asked is not None else jitter(state)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=tenacity.retry_if_exception(is_retryable),
            before_sleep=lambda state: on_retry(state.outcome.exception()),  # type: ignore[union-attr,arg-type]
            reraise=True,
        )
        return retrying(attempt)


BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}
_breakers: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()


def _breaker_states(options: CallbackOptions) -> Iterable[Observation]:
    """Each backend's breaker state for ``workbench.remote.breaker.state`` (read when
    exported; the worst one where several live breakers share a backend's name)."""
    worst: dict[str, int] = {}
    for breaker in list(_breakers):
        worst[breaker.name] = max(worst.get(breaker.name, 0), BREAKER_STATES[breaker.state])
    for name, state in worst.items():
        yield Observation(state, {"workbench.backend": name})


telemetry.meter.create_observable_gauge(
    "workbench.remote.breaker.state", [_breaker_states], unit="1",
    description="Each remote backend's circuit breaker: 0 closed, 1 half-open, 2 open",
)  # fmt: skip


@dataclass(eq=False)  # compared by identity: each backend's breaker is its own
class CircuitBreaker:
    """Closed → open after ``failures`` failed calls in a row → half-open after ``reset_s``."""

    name: str
    failures: int = 3
    reset_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _failed: int = 0
    _opened_at: float | None = None
    _probing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        _breakers.add(self)

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self._opened_at >= self.reset_s else "open"

    def call(self, attempt: Callable[[], T], *, force: bool = False) -> T:
        """Run ``attempt`` unless the breaker is open (then raise ``BreakerOpen`` at once).
        ``force`` runs it anyway, as a probe whose outcome closes or reopens the breaker
        (`workbench backends check`)."""
        with self._lock:
            state = self._state()
            if not force and (state == "open" or (state == "half-open" and self._probing)):
                left = self.reset_s - (self.clock() - (self._opened_at or 0.0))
                raise BreakerOpen(self.name, max(left, 0.0))
            self._probing = state != "closed"
        try:
            result = attempt()
        except BaseException:
            self.record_failure()
            raise
        with self._lock:
            self._probing, self._failed, self._opened_at = False, 0, None
        return result

    def record_failure(self) -> None:
        """Count a failed call (also one that failed after it returned, as a cut stream)."""
        with self._lock:
            self._probing = False
            self._failed += 1
            if self._failed >= self.failures or self._opened_at is not None:
                self._opened_at = self.clock()  # (re)open: a failed probe waits again
