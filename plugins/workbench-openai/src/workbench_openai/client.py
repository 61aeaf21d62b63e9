"""The OpenAI-compatible protocol: list models, stream a chat completion, embed texts.

Requests go through a ``Transport`` (offline refusal, timeouts, retries, breaker, receipts);
this module only speaks the protocol. A streamed completion is read as server-sent events:
``data: {json}`` lines, each with a ``choices[0].delta.content`` piece, ended by
``data: [DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.backends.remote.common import EstimatedTokens, events, sent_messages
from workbench.backends.remote.resilience import RemoteError
from workbench.backends.remote.transport import Transport
from workbench.core.answering.chat import ChatParams, Completion


def list_models(transport: Transport, *, probe: bool = False) -> list[str]:
    """The model ids the server offers (``GET /models``)."""
    response = transport.request("GET", "/models", probe=probe)
    try:
        return [str(item["id"]) for item in response.json().get("data", [])]
    except (ValueError, AttributeError, KeyError, TypeError):
        raise RemoteError(
            f"'{transport.name}' ({transport.host}) did not answer GET /models with an "
            "OpenAI-style model list: is base_url the API's root (usually ending in /v1)?",
            retryable=False,
        ) from None


@dataclass
class OpenAIChat(EstimatedTokens):
    """A chat model served by an OpenAI-compatible server (a ``ChatModel``)."""

    transport: Transport
    model: str
    context_size: int = 4096

    @property
    def name(self) -> str:
        return f"{self.transport.name}:{self.model}"

    def _body(self, messages: list[dict[str, str]], params: ChatParams, stream: bool) -> Any:
        return {
            "model": self.model, "messages": messages, "max_tokens": params.max_tokens,
            "temperature": params.temperature, "seed": params.seed, "stream": stream,
            **({"stop": params.stop} if params.stop else {}),
            # A JSON Schema to decode under (agents' steps), in llama.cpp's servers' form.
            **({"response_format": {"type": "json_object", "schema": params.json_schema}}
               if params.json_schema else {}),
        }  # fmt: skip

    def complete(self, messages: list[dict[str, str]], params: ChatParams) -> Completion:
        """One completion, not streamed."""
        started = time.perf_counter()
        response = self.transport.request(
            "POST", "/chat/completions", body=self._body(messages, params, False),
            sent=sent_messages(messages),
        )  # fmt: skip
        data = response.json()
        elapsed = (time.perf_counter() - started) * 1000
        usage = data.get("usage") or {}
        choice = data["choices"][0]
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            prompt_ms=0.0, first_token_ms=elapsed, generate_ms=0.0,
            finish_reason=choice.get("finish_reason") or "stop",
        )  # fmt: skip

    def chat(
        self,
        messages: list[dict[str, str]],
        params: ChatParams,
        *,
        on_token: Callable[[str], None] = lambda text: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:
        """Stream a completion, calling ``on_token`` with each piece of text."""
        started = time.perf_counter()
        pieces: list[str] = []
        first_at = last_at = None
        reason = "length"
        body = self._body(messages, params, True)
        with self.transport.stream(
            "POST", "/chat/completions", body=body, sent=sent_messages(messages)
        ) as response:
            for event in events(response, self.transport.name):
                choice = (event.get("choices") or [{}])[0]
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece:
                    last_at = time.perf_counter()
                    first_at = first_at or last_at
                    pieces.append(piece)
                    on_token(piece)
                if choice.get("finish_reason"):
                    reason = choice["finish_reason"]
                if should_stop():
                    reason = "cancelled"
                    break
        return Completion(
            text="".join(pieces),
            prompt_tokens=self.prompt_tokens(messages),
            completion_tokens=len(pieces),  # one piece per token on the servers measured
            prompt_ms=0.0,
            first_token_ms=((first_at or time.perf_counter()) - started) * 1000,
            generate_ms=((last_at - first_at) * 1000) if first_at and last_at else 0.0,
            finish_reason=reason,
        )
