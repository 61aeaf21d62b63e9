"""The remote transport against a real HTTP server on 127.0.0.1 that injects faults (a test
double for the faults only: every request is real HTTP over a real socket)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from workbench.backends.remote.resilience import (
    BreakerOpen,
    CircuitBreaker,
    RemoteError,
    RetryPolicy,
)
from workbench.backends.remote.transport import OfflineRefused, Transport

KEY = "sk-test-0123456789abcdef"
FAST = RetryPolicy(max_retries=2, base_s=0.01, cap_s=0.02)


class FaultServer:
    """Answers each request with the next scripted (status, headers, body); then 200 {"ok"}.
    Records what it received."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], bytes]] = []
        self.seen: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                server.seen.append({"path": self.path, "headers": dict(self.headers),
                                    "body": self.rfile.read(length)})  # fmt: skip
                status, headers, body = (
                    server.script.pop(0) if server.script else (200, {}, b'{"ok": true}')
                )
                if "x-delay" in headers:  # a server that answers too late
                    time.sleep(float(headers["x-delay"]))
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a timeout test)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()


def transport(url: str, **kwargs: Any) -> Transport:
    kwargs.setdefault("retry", FAST)
    return Transport("gpu", url, timeout_s=5.0, connect_timeout_s=1.0, **kwargs)


def test_offline_sends_nothing(server: FaultServer) -> None:
    remote = transport(server.url, offline=lambda: True)
    with pytest.raises(OfflineRefused, match="Offline mode is on"):
        remote.request("POST", "/v1/chat/completions", body={"q": "secret notes"}, sent={})
    assert server.seen == [] and list(remote.receipts) == []  # not one request reached the server


def test_5xx_and_429_are_retried_then_succeed(server: FaultServer) -> None:
    server.script = [(503, {}, b"busy"), (429, {"retry-after": "0"}, b"slow down")]
    remote = transport(server.url)
    response = remote.request("POST", "/v1/embeddings", body={"input": ["a"]},
                              sent={"chunks": ["c1"]})  # fmt: skip
    assert response.json() == {"ok": True} and len(server.seen) == 3
    receipt = remote.receipts[0]
    assert (receipt.status, receipt.attempts, receipt.sent) == (200, 3, {"chunks": ["c1"]})
    assert receipt.bytes_sent == len(server.seen[0]["body"]) and len(receipt.sha256) == 64


def test_a_4xx_is_not_retried_and_a_refused_key_is_explained_without_the_key(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPU_API_KEY", KEY)
    server.script = [(401, {}, json.dumps({"error": f"bad key {KEY}"}).encode())]
    remote = transport(server.url, api_key_env="GPU_API_KEY")
    with pytest.raises(RemoteError) as caught:
        remote.request("POST", "/v1/chat/completions", body={}, sent={"chunks": []})
    assert len(server.seen) == 1  # no retry
    assert server.seen[0]["headers"]["authorization"] == f"Bearer {KEY}"  # sent, once
    message = str(caught.value)
    assert "HTTP 401" in message and "GPU_API_KEY" in message and KEY not in message
    assert KEY not in json.dumps([r.as_json() for r in remote.receipts])
    server.script = [(400, {}, f"echo {KEY}".encode())]
    with pytest.raises(RemoteError) as caught:
        remote.request("POST", "/x", body={})
    assert "HTTP 400" in str(caught.value) and KEY not in str(caught.value)


def test_retries_give_up_with_a_clear_message(server: FaultServer) -> None:
    server.script = [(502, {}, b"")] * 3
    remote = transport(server.url)
    with pytest.raises(RemoteError, match="HTTP 502"):
        remote.request("POST", "/infer", body={}, sent={"chunks": ["c"]})
    assert len(server.seen) == 3  # the first try and max_retries = 2 more
    assert remote.receipts[0].attempts == 3 and remote.receipts[0].status == 502


def test_a_refused_connection_is_retried_and_explained() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    remote = transport(f"http://127.0.0.1:{port}")
    with pytest.raises(RemoteError, match="Could not reach the backend 'gpu'"):
        remote.request("GET", "/v2/health/ready")


def test_breaker_opens_fails_fast_and_probes_after_the_reset(server: FaultServer) -> None:
    now = [0.0]
    breaker = CircuitBreaker("gpu", failures=2, reset_s=10.0, clock=lambda: now[0])
    remote = transport(server.url, retry=RetryPolicy(max_retries=0), breaker=breaker)
    server.script = [(500, {}, b"")] * 2
    for _ in range(2):
        with pytest.raises(RemoteError):
            remote.request("POST", "/x", body={})
    assert breaker.state == "open"
    with pytest.raises(BreakerOpen, match="stops calling it"):
        remote.request("POST", "/x", body={})
    assert len(server.seen) == 2  # refused without a request
    now[0] = 10.0
    assert breaker.state == "half-open"
    server.script = [(500, {}, b"")]
    with pytest.raises(RemoteError):
        remote.request("POST", "/x", body={})  # the probe fails: open again
    assert breaker.state == "open" and len(server.seen) == 3
    now[0] = 20.0
    assert remote.request("POST", "/x", body={}).json() == {"ok": True}  # probe succeeds
    assert breaker.state == "closed"


def test_a_response_slower_than_the_timeout_is_retried_then_reported(server: FaultServer) -> None:
    server.script = [(200, {"x-delay": "1.0"}, b"{}")] * 2
    remote = Transport("gpu", server.url, timeout_s=0.3, connect_timeout_s=0.3,
                       retry=RetryPolicy(max_retries=1, base_s=0.01, cap_s=0.01))  # fmt: skip
    with pytest.raises(RemoteError, match="Could not reach the backend 'gpu'"):
        remote.request("POST", "/v1/chat/completions", body={})
    assert len(server.seen) == 2  # timed out, retried once, timed out again
