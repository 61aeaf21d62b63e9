"""Plugin hook specifications (pluggy, entry-point group ``workbench``).

Every hook takes a ``register`` callback so one plugin can offer several things. Built-in
extractors and embedders are registered through these same hooks (see ``workbench.builtins``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("workbench")
hookimpl = pluggy.HookimplMarker("workbench")


@hookspec
def register_extractors(register: Callable[[Any], None]) -> None:
    """Register file extractors.

    Call ``register(extractor)`` once per extractor. An extractor has ``name``, ``version``,
    ``suffixes`` (lower-case, with the dot) and ``extract(path, data) -> Extraction``.
    """


@hookspec
def register_embedders(register: Callable[[str, Callable[[], Any]], None]) -> None:
    """Register text embedders.

    Call ``register(name, factory)``; ``factory()`` returns an object with ``id``, ``dim``,
    ``max_tokens``, ``embed(texts) -> numpy.ndarray`` and ``count_tokens(texts) -> list[int]``.
    The factory runs only when the embedder is first used.
    """


@hookspec
def register_backends(register: Callable[[str, Callable[[], Any]], None]) -> None:
    """Register chat backends.

    Call ``register(name, factory)``; ``factory()`` returns an object with ``name``,
    ``describe() -> dict`` and ``load(model, settings) -> ChatModel`` (see
    ``workbench.core.answering.chat``): ``model`` is a ``ModelInfo`` whose ``backend`` is
    ``name``. A ``ChatModel`` has ``context_size``, ``count_tokens(text)``,
    ``prompt_tokens(messages)``, ``truncate(text, max_tokens)`` and
    ``chat(messages, params, on_token, should_stop) -> Completion``. Loading should be cached
    for the life of the process.
    """


@hookspec
def register_tools(register: Callable[[Any], None]) -> None:
    """Register agent tools: ``register(tool)``."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the Typer app ``cli`` (``@cli.command()``)."""
