"""What a chat backend gives back, and the interface a loaded chat model offers.

Backends (``workbench/backends``, or plugins through ``register_backends``) implement
``ChatBackend``; core code only ever talks to these two protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ChatParams:
    """Sampling parameters for one completion (recorded with every answer)."""

    max_tokens: int = 384
    temperature: float = 0.0
    seed: int = 42
    repeat_penalty: float = 1.0
    stop: list[str] = field(default_factory=list)
    # Decode under this JSON Schema (a llama.cpp grammar): what is written is valid by
    # construction. Agents' steps use it; None for free text.
    json_schema: dict[str, Any] | None = None


@dataclass
class Completion:
    """A finished (or stopped) completion with its token counts and timings."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    prompt_ms: float  # evaluating the prompt (cached prefix tokens are not re-evaluated)
    first_token_ms: float  # from the call until the first token was sampled
    generate_ms: float  # from the first token to the last
    finish_reason: str  # "stop", "length" or "cancelled"
    load_ms: float = 0.0  # loading the model for this call; 0 when it was already loaded

    @property
    def tokens_per_second(self) -> float:
        """Decode speed: tokens after the first, over the time they took."""
        if self.completion_tokens < 2 or self.generate_ms <= 0:
            return 0.0
        return (self.completion_tokens - 1) / (self.generate_ms / 1000.0)


class ChatModel(Protocol):
    """A loaded chat model. Loading happens once per process (see the backend's cache)."""

    name: str
    context_size: int

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's own tokenizer."""
        ...

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens the rendered chat prompt for ``messages`` takes (chat template included)."""
        ...

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to at most ``max_tokens`` tokens of this model."""
        ...

    def chat(
        self,
        messages: list[dict[str, str]],
        params: ChatParams,
        *,
        on_token: Callable[[str], None] = lambda text: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:
        """Stream a reply to ``messages``, calling ``on_token`` with each piece of text."""
        ...


class ChatBackend(Protocol):
    """Runs chat models. Registered with ``register_backends(register)``."""

    name: str

    def load(self, model: Any, settings: Any) -> ChatModel:
        """The loaded ``model`` (a ``ModelInfo``), from the process-wide cache when possible."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts about the runtime worth recording (version, GPU offload support)."""
        ...
