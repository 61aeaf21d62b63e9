"""What extractors produce and chunkers consume (``Extractor`` itself: core/protocols.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Block:
    """A run of text that belongs together (a paragraph, a code block, a table row).

    Locator fields: ``line_start``/``line_end`` (1-based), ``page`` (1-based), ``start_s``/
    ``end_s`` (seconds into a recording) and ``region`` ([left, top, right, bottom] pixels of
    an image that the text was read from).
    """

    text: str
    line_start: int | None = None
    line_end: int | None = None
    heading: str = ""
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    region: tuple[int, int, int, int] | None = None


@dataclass
class Extraction:
    """The text of one file, in blocks, with its kind and metadata.

    ``metadata`` is kept as JSON on the file's row. `workbench doctor` reads these keys when
    present: ``text_chars`` (characters of the file's own text; 0 means none was found),
    ``ocr_pages``, ``ocr_capped`` and ``ocr_missing`` (page numbers read by OCR, left out over
    the page cap, left out for want of an engine) and ``missing`` (names of missing engines).
    """

    kind: str
    blocks: list[Block]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineStatus:
    """Whether an optional engine is usable, for versions and the coverage report."""

    name: str
    role: str
    available: bool
    detail: str
    install: str = ""
    marker: str = ""  # text in the reasons of files that failed for want of this engine

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "available": self.available,
            "detail": self.detail,
            "install": "" if self.available else self.install,
        }


class ExtractionError(Exception):
    """The file could not be read as its kind; the message is shown to the person."""


class SkipFile(Exception):  # noqa: N818 - a signal, not an error
    """The file is deliberately not indexed (binary, empty...); the message says why."""
