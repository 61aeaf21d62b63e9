"""What a plugin hands to each ``register_*`` hook: the typed seams between plugins and core.

Structural types (``typing.Protocol``): a plugin's classes need not inherit from these, mypy
checks that they fit. Read-only members are properties here, so a class attribute, an
instance attribute or a property all satisfy them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from workbench.core.answering.chat import ChatBackend as Backend
from workbench.core.answering.chat import ChatModel

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from workbench.core.extraction.documents import Extraction

__all__ = ["Backend", "ChatModel", "Embedder", "Extractor", "Tool"]


class Extractor(Protocol):
    """Turns one file's bytes into an Extraction. Registered via ``register_extractors``.

    Optional members, looked up with ``getattr``: ``kind`` (needed to read a compressed
    ``name.txt.gz``), ``configure(settings, paths)``, called once with the user's settings and
    the data/cache paths before the first sync, and ``engines() -> list[EngineStatus]``, the
    optional engines it depends on, shown by `workbench doctor`.
    """

    @property
    def name(self) -> str:
        """Unique among extractors; recorded with every file it reads."""
        ...

    @property
    def version(self) -> str:
        """Change it to make the next sync read this extractor's files again."""
        ...

    @property
    def suffixes(self) -> frozenset[str]:
        """Lower-case file suffixes with the dot (``".wav"``)."""
        ...

    @property
    def filenames(self) -> frozenset[str]:
        """Whole file names it reads whatever their suffix (``"Makefile"``)."""
        ...

    def extract(self, path: Path, data: bytes) -> Extraction:
        """The file's text in blocks; raise ``SkipFile`` or ``ExtractionError`` with a reason."""
        ...


class Embedder(Protocol):
    """Turns text into unit vectors. Registered via ``register_embedders(register)``."""

    @property
    def id(self) -> str:
        """Recorded with every vector: a new id makes the next sync embed everything again."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Longest input it reads; longer passages are split before embedding."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """An (n, dim) float32 array of L2-normalised vectors."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes, without special tokens."""
        ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token of ``text``."""
        ...


class Tool(Protocol):
    """A function an agent may call. Registered via ``register_tools(register)``."""

    @property
    def name(self) -> str:
        """Unique among tools; the name the model calls it by."""
        ...

    @property
    def description(self) -> str:
        """What it does and when to use it, written for the model."""
        ...

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON Schema of the ``arguments`` object ``run`` takes."""
        ...

    def run(self, arguments: dict[str, Any]) -> str:
        """Do it; the text returned is shown to the model."""
        ...
