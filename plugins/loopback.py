"""Real servers on 127.0.0.1 for the plugins' tests and benchmarks, and a proxy that puts
faults in front of them.

``LlamaServer`` runs llama-cpp-python's OpenAI-compatible server (`python -m
llama_cpp.server`) on a free port. ``FaultProxy`` forwards real HTTP to a real server and
injects one scripted fault per request: it is a test double for the faults only, never for
the protocol, which is always the real server's.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

TEST_KEY, TEST_KEY_ENV = "sk-local-test-4f9a2c", "WB_TEST_OPENAI_KEY"
FAULTS = "pass, 503, 429:SECONDS (Retry-After), reset, delay:SECONDS, cut:BYTES, trickle:SECONDS"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def llama_server(
    model: Path,
    log: Path,
    *,
    alias: str = "smollm2",
    api_key: str = "",
    threads: int = 1,
    extra: tuple[str, ...] = (),
) -> Iterator[str]:
    """`python -m llama_cpp.server` serving ``model``; yields its base URL (``.../v1``)."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--n_threads", str(threads), *(["--api_key", api_key] if api_key else []), *extra,
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        wait_until_ready(f"{url}/models", headers, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_ready(
    url: str, headers: dict[str, str], process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, headers=headers, timeout=5).is_success:
                return
        time.sleep(0.2)  # the server is still loading its model: poll again
    process.kill()
    raise RuntimeError(f"the server did not start: {log.read_text(errors='replace')[-2000:]}")


class FaultProxy:
    """Forwards each request to ``upstream`` (one request per connection), after applying the
    next fault of ``faults`` to it (see ``FAULTS``); with none left, requests pass."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.split("//", 1)[1].split("/", 1)[0].partition(":")
        self.upstream = (host, int(port or 80))
        self.faults: list[str] = []
        self.requests: list[str] = []  # each request line, in order
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                request = _read_request(client)
            except OSError:
                return
            self.requests.append(request.split(b"\r\n", 1)[0].decode("latin-1"))
            kind, _, arg = (self.faults.pop(0) if self.faults else "pass").partition(":")
            if kind in ("503", "429"):
                extra = f"Retry-After: {arg}\r\n" if arg else ""
                client.sendall(f"HTTP/1.1 {kind} Fault\r\n{extra}Content-Length: 0\r\n"
                               "Connection: close\r\n\r\n".encode())  # fmt: skip
            elif kind == "reset":
                _reset(client)
            else:
                time.sleep(float(arg) if kind == "delay" else 0.0)
                self._forward(client, request, kind, arg)

    def _forward(self, client: socket.socket, request: bytes, kind: str, arg: str) -> None:
        with contextlib.suppress(OSError), socket.create_connection(self.upstream) as upstream:
            upstream.sendall(request)
            sent = 0
            while data := upstream.recv(16 if kind == "trickle" else 65536):
                if kind == "cut" and sent + len(data) >= int(arg):
                    client.sendall(data[: int(arg) - sent])
                    _reset(client)
                    return
                client.sendall(data)
                sent += len(data)
                if kind == "trickle":
                    time.sleep(float(arg))


def _read_request(client: socket.socket) -> bytes:
    """One request (head and body), its Connection header made ``close``."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = client.recv(65536)
        if not piece:
            raise OSError("client closed")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    length = next((int(line.split(b":", 1)[1]) for line in lines
                   if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
    while len(body) < length:
        piece = client.recv(65536)
        if not piece:
            raise OSError("client closed")
        body += piece
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


def _reset(connection: socket.socket) -> None:
    """Close with a TCP reset (RST), as a crashed server or a dropped network does."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
