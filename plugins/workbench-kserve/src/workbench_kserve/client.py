"""The Open Inference Protocol v2 (KServe, Inferless, Triton) as a chat model.

The prompt goes to ``POST /v2/models/{model}/infer`` as one BYTES tensor (``input_name``,
shape [1]) with the generation settings as request parameters, and the answer comes back as
the BYTES tensor ``output_name``, whole. Where the server is Triton (``GET /v2`` says so),
Triton's generate extension streams it instead: ``POST /v2/models/{model}/generate_stream``
with ``text_input``, answered by server-sent events that each carry a ``text_output`` piece.

Requests go through a ``Transport`` (offline refusal, timeouts, retries, breaker, receipts).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from workbench.backends.remote.common import EstimatedTokens, events, sent_messages
from workbench.backends.remote.resilience import RemoteError
from workbench.backends.remote.transport import Transport
from workbench.core.answering.chat import ChatParams, Completion


def server_name(transport: Transport, *, probe: bool = False) -> str:
    """The server's name from its metadata (``GET /v2``): "kserve", "triton", ..."""
    return str(_json(transport.request("GET", "/v2", probe=probe), transport).get("name", ""))


def model_ready(transport: Transport, model: str, *, probe: bool = False) -> bool:
    """Whether the server is ready and has ``model`` loaded (``/v2/health/ready``, then
    ``/v2/models/{model}/ready``); a model it does not know is a clear error."""
    transport.request("GET", "/v2/health/ready", probe=probe)
    try:
        response = transport.request("GET", f"/v2/models/{model}/ready", probe=probe)
    except RemoteError as exc:
        if exc.status == 404:
            raise RemoteError(
                f"'{transport.name}' ({transport.host}) has no model called '{model}': fix "
                f"model in [backends.{transport.name}].",
                retryable=False, status=404,
            ) from None  # fmt: skip
        raise
    return bool(_json(response, transport).get("ready", True))


def render(messages: list[dict[str, str]]) -> str:
    """The chat as one prompt: each message's text, a blank line between them (the server
    applies its model's own template, if it has one)."""
    return "\n\n".join(message["content"] for message in messages)


@dataclass
class KServeChat(EstimatedTokens):
    """A chat model behind an Open Inference Protocol v2 server (a ``ChatModel``)."""

    transport: Transport
    model: str
    input_name: str = "text"
    output_name: str = "text"
    context_size: int = 4096
    streams: bool | None = None  # Triton's generate_stream; None: ask the server first

    @property
    def name(self) -> str:
        return f"{self.transport.name}:{self.model}"

    def chat(
        self,
        messages: list[dict[str, str]],
        params: ChatParams,
        *,
        on_token: Callable[[str], None] = lambda text: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:
        """The answer: streamed where the server can (Triton), else whole from ``infer``."""
        if self.streams is None:
            self.streams = server_name(self.transport) == "triton"
        started = time.perf_counter()
        if self.streams:
            text, first_ms, reason = self._generate_stream(messages, params, on_token, should_stop)
        else:
            text, reason = self._infer(messages, params), "stop"
            first_ms = (time.perf_counter() - started) * 1000
            on_token(text)
        total_ms = (time.perf_counter() - started) * 1000
        return Completion(
            text=text, prompt_tokens=self.prompt_tokens(messages),
            completion_tokens=self.count_tokens(text) if text else 0, prompt_ms=0.0,
            first_token_ms=first_ms, generate_ms=max(0.0, total_ms - first_ms),
            finish_reason=reason,
        )  # fmt: skip

    def _parameters(self, params: ChatParams) -> dict[str, Any]:
        return {"max_tokens": params.max_tokens, "temperature": params.temperature,
                "seed": params.seed}  # fmt: skip

    def _infer(self, messages: list[dict[str, str]], params: ChatParams) -> str:
        body = {
            "id": uuid.uuid4().hex,
            "inputs": [{"name": self.input_name, "shape": [1], "datatype": "BYTES",
                        "data": [render(messages)]}],
            "parameters": self._parameters(params),
        }  # fmt: skip
        response = self.transport.request(
            "POST", f"/v2/models/{self.model}/infer", body=body, sent=sent_messages(messages)
        )
        outputs = {o.get("name"): o for o in _json(response, self.transport).get("outputs", [])}
        output = outputs.get(self.output_name)
        if output is None or not output.get("data"):
            raise RemoteError(
                f"'{self.transport.name}' answered without a '{self.output_name}' output (it "
                f"sent: {', '.join(map(str, outputs)) or 'none'}); set output_name in "
                f"[backends.{self.transport.name}].",
                retryable=False,
            )
        return str(output["data"][0])

    def _generate_stream(
        self,
        messages: list[dict[str, str]],
        params: ChatParams,
        on_token: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> tuple[str, float, str]:
        started = time.perf_counter()
        body = {"text_input": render(messages),
                "parameters": {**self._parameters(params), "stream": True}}  # fmt: skip
        pieces: list[str] = []
        first_ms, reason = 0.0, "stop"
        with self.transport.stream(
            "POST", f"/v2/models/{self.model}/generate_stream", body=body,
            sent=sent_messages(messages),
        ) as response:  # fmt: skip
            for event in events(response, self.transport.name):
                piece = str(event.get("text_output") or "")
                if piece:
                    first_ms = first_ms or (time.perf_counter() - started) * 1000
                    pieces.append(piece)
                    on_token(piece)
                if should_stop():
                    reason = "cancelled"
                    break
        return "".join(pieces), first_ms, reason


def _json(response: httpx.Response, transport: Transport) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RemoteError(
            f"'{transport.name}' ({transport.host}) did not answer with Open Inference Protocol "
            "JSON: is base_url the server's root (without /v2)?",
            retryable=False,
        )
    return data
