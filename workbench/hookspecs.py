"""Plugin hook specifications (pluggy, entry-point group ``workbench``).

Every hook takes a ``register`` callback so one plugin can offer several things. Built-in
extractors and embedders are registered through these same hooks (see ``workbench.builtins``).
What each hook registers is typed by a Protocol in ``workbench.core.protocols``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from workbench.core.protocols import Backend, Embedder, Extractor, Tool

hookspec = pluggy.HookspecMarker("workbench")
hookimpl = pluggy.HookimplMarker("workbench")


@hookspec
def register_extractors(register: Callable[[Extractor], None]) -> None:
    """Register file extractors.

    Call ``register(extractor)`` once per extractor. An ``Extractor`` has ``name``,
    ``version``, ``suffixes`` (lower-case, with the dot), ``filenames`` and
    ``extract(path, data) -> Extraction``.
    """


@hookspec
def register_embedders(register: Callable[[str, Callable[[], Embedder]], None]) -> None:
    """Register text embedders.

    Call ``register(name, factory)``; ``factory()`` returns an ``Embedder``: ``id``, ``dim``,
    ``max_tokens``, ``embed(texts) -> numpy.ndarray``, ``count_tokens(texts) -> list[int]`` and
    ``token_offsets(text)``. The factory runs only when the embedder is first used.
    """


@hookspec
def register_backends(register: Callable[[str, Callable[[], Backend]], None]) -> None:
    """Register chat backends.

    Call ``register(name, factory)``; ``factory()`` returns a ``Backend`` with ``name``,
    ``describe() -> dict`` and ``load(model, settings) -> ChatModel``: ``model`` is a
    ``ModelInfo`` whose ``backend`` is ``name``. A ``ChatModel`` has ``context_size``,
    ``count_tokens(text)``, ``prompt_tokens(messages)``, ``truncate(text, max_tokens)`` and
    ``chat(messages, params, on_token, should_stop) -> Completion``. Loading should be cached
    for the life of the process.
    """


@hookspec
def register_tools(register: Callable[[Tool], None]) -> None:
    """Register agent tools: ``register(tool)``.

    A ``Tool`` has ``name``, ``description``, ``parameters`` (a JSON Schema of its arguments)
    and ``run(arguments) -> str``. Collected by name with ``workbench.plugins.collect_tools``.
    """


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands to the Typer app ``cli`` (``@cli.command()``)."""
