"""What extractors produce and chunkers consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class Block:
    """A run of text that belongs together (a paragraph, a code block, a table row)."""

    text: str
    line_start: int | None = None
    line_end: int | None = None
    heading: str = ""
    page: int | None = None


@dataclass
class Extraction:
    """The text of one file, in blocks, with its kind and metadata."""

    kind: str
    blocks: list[Block]
    metadata: dict[str, Any] = field(default_factory=dict)


class Extractor(Protocol):
    """Turns one file's bytes into an Extraction. Registered via ``register_extractors``."""

    name: str
    version: str
    suffixes: frozenset[str]
    filenames: frozenset[str]

    def extract(self, path: Path, data: bytes) -> Extraction: ...


class ExtractionError(Exception):
    """The file could not be read as its kind; the message is shown to the person."""


class SkipFile(Exception):  # noqa: N818 - a signal, not an error
    """The file is deliberately not indexed (binary, empty...); the message says why."""
