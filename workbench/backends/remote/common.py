"""What remote chat protocols share: token counts estimated without the server's tokenizer,
and server-sent events (the streamed answer of OpenAI-compatible servers and of Triton's
``generate_stream``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from workbench.backends.remote.resilience import RemoteError

CHARS_PER_TOKEN = 3.0  # a cautious estimate: the server's tokenizer is not at hand


class EstimatedTokens:
    """``ChatModel``'s token counting for a model whose tokenizer runs on a server."""

    def count_tokens(self, text: str) -> int:
        return int(len(text) / CHARS_PER_TOKEN) + 1

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages) + 2

    def truncate(self, text: str, max_tokens: int) -> str:
        return text[: int(max(0, max_tokens) * CHARS_PER_TOKEN)]


def events(response: httpx.Response, backend: str) -> Iterator[dict[str, Any]]:
    """The JSON events of a server-sent-event stream, up to ``data: [DONE]`` or its end. A
    connection cut mid-stream becomes a ``RemoteError``, so the answer fails over instead of
    ending half-written."""
    try:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # comments, keep-alives, blank separators
            data = line[5:].strip()
            if data == "[DONE]":
                return
            if data:
                yield json.loads(data)
    except httpx.TransportError as exc:
        raise RemoteError(
            f"The answer from '{backend}' was cut off mid-stream ({type(exc).__name__}).",
            retryable=False,
        ) from None


def sent_messages(messages: list[dict[str, str]]) -> dict[str, Any]:
    """What a chat request carries, for its receipt (sizes, not the text)."""
    return {"messages": len(messages), "bytes": sum(len(m["content"].encode()) for m in messages)}
