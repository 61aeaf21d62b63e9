"""The one door every remote call goes through: offline refusal, timeouts, retries, breaker,
receipts, and keys that never leave the request.

- Offline (`offline = true`): the request is refused here, before any socket is opened, so no
  byte leaves the machine whatever the caller does.
- Timeouts: a connect timeout, a read timeout between bytes, and a total deadline per attempt.
- Retries and the circuit breaker come from ``resilience.py``, applied here for every caller.
- Keys: read per request from the environment variable the backend names, else from the
  system keyring (``keyring_password``); sent only in the Authorization header, and never part
  of an error message, a receipt or a log line.
- Receipts: each request that carries library text records where it went, when, its status
  and attempts, and what was sent (the caller's description, byte count and sha256 of the
  body), so "what did I send where?" has an answer (``receipts.py`` says who gets them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from opentelemetry.trace import SpanKind

from workbench.backends.remote.receipts import Journal, Receipt, issued
from workbench.backends.remote.resilience import (
    CircuitBreaker,
    RemoteError,
    RetryPolicy,
    retry_after,
)
from workbench.core import telemetry
from workbench.errors import WorkbenchError

KEYRING_SERVICE = "workbench"  # `keyring set workbench GPU_API_KEY` stores a backend's key
RECENT_RECEIPTS = 100  # the latest, in memory (the journal on disk keeps them all)


class OfflineRefused(WorkbenchError):
    """Offline mode is on: the request was not sent."""

    def __init__(self, backend: str, host: str) -> None:
        super().__init__(
            f"Offline mode is on, so nothing is sent to the backend '{backend}' ({host}). "
            "Turn it off (`offline = false`, or leave out --offline) to use remote backends.",
            "Offline",
        )


@dataclass
class Transport:
    """HTTP to one backend (``base_url``) with the guarantees above."""

    name: str
    base_url: str
    offline: Callable[[], bool] = lambda: False
    api_key_env: str = ""
    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: CircuitBreaker | None = None
    receipts: deque[Receipt] = field(default_factory=lambda: deque(maxlen=RECENT_RECEIPTS))
    journal: Journal | None = None  # where finished receipts are kept on disk
    _client: httpx.Client | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.breaker is None:
            self.breaker = CircuitBreaker(self.name)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            timeout = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
            self._client = httpx.Client(timeout=timeout, trust_env=False)  # no proxy surprises
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        sent: dict[str, Any] | None = None,
        probe: bool = False,
    ) -> httpx.Response:
        """Send one request (retried, through the breaker); raise ``RemoteError`` when it
        fails for good. ``sent`` describes library text in ``body``: then a receipt is kept.
        A ``probe`` (a health check) is tried once, even while the breaker is open, and its
        outcome closes or reopens it."""
        return self._send(method, path, body, sent, stream=False, probe=probe)[0]

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, *, body: Any = None, sent: dict[str, Any] | None = None
    ) -> Iterator[httpx.Response]:
        """``request`` for a streamed body: retries and the breaker cover getting the
        response's status; once the body flows, a failure (a cut stream) is the caller's to
        handle, by failing over, since part of the answer has been shown. The receipt notes it."""
        response, receipt = self._send(method, path, body, sent, stream=True)
        try:
            yield response
        except Exception as exc:
            if isinstance(exc, RemoteError) and self.breaker is not None:
                self.breaker.record_failure()  # a cut stream counts against the backend
            if receipt is not None:
                receipt.error = self._scrub(str(exc)) or type(exc).__name__
            raise
        finally:
            response.close()
            self._finished(receipt)

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        sent: dict[str, Any] | None,
        *,
        stream: bool,
        probe: bool = False,
    ) -> tuple[httpx.Response, Receipt | None]:
        if self.offline():
            raise OfflineRefused(self.name, self.host)
        payload = json.dumps(body).encode() if body is not None else b""
        receipt: Receipt | None = None  # issued once the breaker lets the request go
        attempts = 0

        def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return self._once(method, path, payload, stream)

        def counted() -> httpx.Response:
            nonlocal receipt
            if sent is not None:
                receipt = self._receipt(path, payload, sent)
            return attempt() if probe else self.retry.call(attempt, on_retry=self._retried)

        split = urlsplit(self.base_url)
        attributes = {
            "http.request.method": method, "server.address": split.hostname or "",
            "server.port": split.port or (443 if split.scheme == "https" else 80),
            "url.full": self.base_url + path, "workbench.backend": self.name,
        }  # fmt: skip
        with telemetry.span(method, attributes, SpanKind.CLIENT) as current:
            try:
                assert self.breaker is not None
                response = self.breaker.call(counted, force=probe)
            except (RemoteError, httpx.TransportError) as exc:
                if receipt is not None:
                    receipt.attempts, receipt.error = attempts, self._scrub(str(exc))
                    receipt.status = getattr(exc, "status", None)
                    self._finished(receipt)
                _answered(current, attempts, getattr(exc, "status", None))
                raise self._explained(exc) from None
            _answered(current, attempts, response.status_code)
        if receipt is not None:
            receipt.attempts, receipt.status = attempts, response.status_code
            if not stream:  # a stream's receipt is finished when the stream ends
                self._finished(receipt)
        return response, receipt

    def _retried(self, exc: BaseException) -> None:
        telemetry.RETRIES.add(1, {"workbench.backend": self.name,
                                  "error.type": type(exc).__name__})  # fmt: skip

    def _finished(self, receipt: Receipt | None) -> None:
        if receipt is not None and self.journal is not None:
            self.journal.write(receipt)

    def _once(self, method: str, path: str, payload: bytes, stream: bool) -> httpx.Response:
        deadline = time.monotonic() + self.timeout_s
        request = self.client.build_request(
            method, self.base_url + path, content=payload or None, headers=self._headers()
        )
        response = self.client.send(request, stream=stream)
        if stream and response.status_code >= 400:
            response.read()  # an error body is short: read it for the message, then close
            response.close()
        if time.monotonic() > deadline:
            response.close()
            raise httpx.ReadTimeout("the response took longer than timeout_s")
        if response.status_code == 429 or response.status_code >= 500:
            error = RemoteError(
                f"{self.name} answered HTTP {response.status_code}", retryable=True,
                status=response.status_code,
            )  # fmt: skip
            error.retry_after = retry_after(response)
            raise error
        if response.status_code >= 400:
            raise RemoteError(self._refusal(response), retryable=False, status=response.status_code)
        return response

    def key(self) -> tuple[str, str]:
        """The API key and where it came from: "environment", "keyring" (the system keyring's
        ``workbench`` service, user ``api_key_env``), "missing", or "none" (none needed)."""
        if not self.api_key_env:
            return "", "none"
        value = os.environ.get(self.api_key_env, "")
        if value:
            return value, "environment"
        value = keyring_password(self.api_key_env)
        return (value, "keyring") if value else ("", "missing")

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        key = self.key()[0]
        if key:
            headers["authorization"] = f"Bearer {key}"
        return headers

    def _refusal(self, response: httpx.Response) -> str:
        status = response.status_code
        if status in (401, 403):
            where = (
                f"the {self.api_key_env} environment variable or the system keyring"
                if self.api_key_env else "no key (set api_key_env in its [backends] block)"
            )  # fmt: skip
            return (
                f"The backend '{self.name}' ({self.host}) refused the request (HTTP {status}): "
                f"check the key, read from {where}."
            )
        detail = self._scrub(response.text[:200].strip())
        return f"The backend '{self.name}' ({self.host}) answered HTTP {status}: {detail}"

    def _explained(self, exc: BaseException) -> WorkbenchError:
        if isinstance(exc, WorkbenchError):
            exc.message = self._scrub(exc.message)
            return exc
        return RemoteError(
            f"Could not reach the backend '{self.name}' ({self.host}): "
            f"{self._scrub(str(exc)) or type(exc).__name__}. Check that it is running and that "
            "base_url is right (`workbench backends check`).",
            retryable=True,
        )

    def _scrub(self, text: str) -> str:
        key = self.key()[0]
        return text.replace(key, "***") if key else text

    def _receipt(self, path: str, payload: bytes, sent: dict[str, Any]) -> Receipt:
        receipt = Receipt(
            backend=self.name, host=self.host, path=path,
            started=datetime.now().astimezone().isoformat(timespec="milliseconds"),
            status=None, attempts=0, bytes_sent=len(payload),
            sha256=hashlib.sha256(payload).hexdigest(), sent=dict(sent),
        )  # fmt: skip
        self.receipts.append(receipt)
        return issued(receipt)


def _answered(current: Any, attempts: int, status: int | None) -> None:
    """A request span's outcome: the last status and how many times it was sent again."""
    if current.is_recording():
        if status is not None:
            current.set_attribute("http.response.status_code", status)
        if attempts > 1:
            current.set_attribute("http.request.resend_count", attempts - 1)


def keyring_password(name: str) -> str:
    """The key stored as ``name`` under the ``workbench`` service of the system keyring, or ""
    when there is none, no keyring package, or no usable keyring (a headless machine)."""
    try:
        import keyring
    except ImportError:
        return ""
    try:
        return keyring.get_password(KEYRING_SERVICE, name) or ""
    except Exception:  # noqa: BLE001 (any keyring backend failure means: no key from there)
        return ""
