"""Model calls, embeddings, retrievals and tool calls as GenAI semantic-convention spans.

``traced(model, provider)`` wraps a loaded chat model so that every ``chat`` (and every
answerability check) is a ``chat {model}`` span with the request parameters, finish reasons and
token usage, and feeds the ``gen_ai.client.*`` metrics, time to first token and decode speed.
Message content goes on the span only when capture is opted in (``capturing``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry.trace import Span, SpanKind

from workbench.core.telemetry import (
    DECODE_RATE,
    FIRST_TOKEN,
    OPERATION_DURATION,
    TOKEN_USAGE,
    Stopwatch,
    capturing,
    content,
    span,
)

LOCAL_PROVIDER = "llama.cpp"
DATA_SOURCE = "workbench-library"


def input_messages(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """``messages`` in the conventions' shape (system ones apart, as system instructions)."""
    return [
        {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
        for m in messages
        if m["role"] != "system"
    ]


def system_instructions(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [{"type": "text", "content": m["content"]} for m in messages if m["role"] == "system"]


def _kind(provider: str) -> SpanKind:
    """In-process inference is internal work; a remote server is called as a client."""
    return SpanKind.INTERNAL if provider == LOCAL_PROVIDER else SpanKind.CLIENT


class TracedChat:
    """A loaded chat model whose calls are traced; everything else passes through."""

    def __init__(self, model: Any, provider: str) -> None:
        self._model = model
        self.provider = provider

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._model, name)
        if name == "yes_probability":  # only where the model has it (``YesNoJudge``)
            return self._traced_yes_probability(attribute)
        return attribute

    @property
    def untraced(self) -> Any:
        return self._model

    def _attributes(self) -> dict[str, Any]:
        """What every chat span and metric of this model carries."""
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self._model.name,
        }

    def chat(
        self,
        messages: list[dict[str, str]],
        params: Any,
        *,
        on_token: Callable[[str], None] = lambda text: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Any:
        metric = self._attributes()
        attributes = metric | {
            "gen_ai.request.max_tokens": params.max_tokens,
            "gen_ai.request.temperature": params.temperature,
            "gen_ai.request.seed": params.seed,
            "gen_ai.output.type": "json" if params.json_schema else "text",
        }
        watch = Stopwatch()
        try:
            with span(f"chat {self._model.name}", attributes, _kind(self.provider)) as current:
                content(current, "gen_ai.system_instructions", system_instructions(messages))
                content(current, "gen_ai.input.messages", input_messages(messages))
                completion = self._model.chat(
                    messages, params, on_token=on_token, should_stop=should_stop
                )
                _finished(current, completion, self._model.name)
        except BaseException as exc:
            OPERATION_DURATION.record(watch.seconds, metric | {"error.type": type(exc).__name__})
            raise
        OPERATION_DURATION.record(watch.seconds, metric)
        TOKEN_USAGE.record(completion.prompt_tokens, metric | {"gen_ai.token.type": "input"})
        TOKEN_USAGE.record(completion.completion_tokens, metric | {"gen_ai.token.type": "output"})
        if completion.completion_tokens:
            FIRST_TOKEN.record(completion.first_token_ms / 1000, metric)
        if completion.tokens_per_second:
            DECODE_RATE.record(completion.tokens_per_second, metric)
        return completion

    def _traced_yes_probability(
        self, yes_probability: Callable[[list[dict[str, str]]], float]
    ) -> Callable[[list[dict[str, str]]], float]:
        def traced(messages: list[dict[str, str]]) -> float:
            attributes = self._attributes() | {
                "gen_ai.request.max_tokens": 1, "workbench.chat.purpose": "answerability",
            }  # fmt: skip
            watch = Stopwatch()
            with span(f"chat {self._model.name}", attributes, _kind(self.provider)) as current:
                content(current, "gen_ai.input.messages", input_messages(messages))
                p_yes = yes_probability(messages)
                if current.is_recording():
                    tokens = self._model.prompt_tokens(messages)
                    current.set_attribute("gen_ai.usage.input_tokens", tokens)
                    current.set_attribute("workbench.answerability.p_yes", round(p_yes, 4))
            OPERATION_DURATION.record(watch.seconds, self._attributes())
            return p_yes

        return traced


def _finished(current: Span, completion: Any, model: str) -> None:
    if not current.is_recording():
        return
    current.set_attributes({
        "gen_ai.response.model": model,
        "gen_ai.response.finish_reasons": [completion.finish_reason],
        "gen_ai.usage.input_tokens": completion.prompt_tokens,
        "gen_ai.usage.output_tokens": completion.completion_tokens,
        "workbench.chat.first_token_ms": round(completion.first_token_ms, 1),
        "workbench.chat.tokens_per_second": round(completion.tokens_per_second, 2),
    })  # fmt: skip
    content(current, "gen_ai.output.messages", [{
        "role": "assistant", "parts": [{"type": "text", "content": completion.text}],
        "finish_reason": completion.finish_reason,
    }])  # fmt: skip


def traced(model: Any, provider: str) -> Any:
    """``model`` with its calls traced (once: a traced model is returned as it is)."""
    return model if isinstance(model, TracedChat) else TracedChat(model, provider)


def embedder_provider(embedder: Any) -> str:
    """Who computes an embedder's vectors: a remote server, or ONNX Runtime here."""
    return "openai" if str(getattr(embedder, "id", "")).endswith("@remote") else "onnxruntime"


@contextlib.contextmanager
def embedding(embedder: Any, count: int) -> Iterator[Span]:
    """An ``embeddings`` span (and duration metric) around embedding ``count`` texts."""
    model = str(getattr(embedder, "id", "embedder"))
    attributes = {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": embedder_provider(embedder),
        "gen_ai.request.model": model,
    }
    watch = Stopwatch()
    kind = SpanKind.CLIENT if model.endswith("@remote") else SpanKind.INTERNAL
    with span(f"embeddings {model}", attributes | {"workbench.embed.inputs": count}, kind) as s:
        if s.is_recording() and getattr(embedder, "dim", None):
            s.set_attribute("gen_ai.embeddings.dimension.count", int(embedder.dim))
        yield s
    OPERATION_DURATION.record(watch.seconds, attributes)


@contextlib.contextmanager
def retrieval(query: str, mode: str, k: int) -> Iterator[Span]:
    """A ``retrieval`` span over the library (the query only when capture is on)."""
    attributes = {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": DATA_SOURCE,
        "gen_ai.request.top_k": k,
        "workbench.search.mode": mode,
    }
    with span(f"retrieval {DATA_SOURCE}", attributes) as current:
        content(current, "gen_ai.retrieval.query.text", query)
        yield current


def retrieved(current: Span, results: list[Any]) -> None:
    """Record what a retrieval found (ids and scores; text and paths only with capture)."""
    if not current.is_recording():
        return
    current.set_attribute("workbench.search.results", len(results))
    if capturing():
        documents = [{"id": r.id, "score": round(float(r.score), 6), "path": r.path,
                      "content": r.text} for r in results]  # fmt: skip
        content(current, "gen_ai.retrieval.documents", documents)


@contextlib.contextmanager
def tool_call(name: str, call_id: str, arguments: dict[str, Any]) -> Iterator[Span]:
    """An ``execute_tool {name}`` span (arguments only when capture is on)."""
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": call_id,
    }
    with span(f"execute_tool {name}", attributes) as current:
        content(current, "gen_ai.tool.call.arguments", arguments)
        yield current
