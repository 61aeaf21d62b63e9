"""Shows a search hit in context: the lines around it, or its page, time range or metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text

from workbench.core.search import format_locator

CONTEXT_LINES = 4
TEXT_KINDS = {"text", "markdown", "rst", "code", "data"}


def preview_text(result: Any, title: str | None = None) -> Text:
    """A Rich Text of ``result`` in context; the matching lines are highlighted."""
    header = Text(f"{title or result.path}\n", style="bold")
    where = format_locator(result.locator)
    if where:
        header.append(f"{where} · {result.kind}\n\n", style="dim")
    lines = result.locator.get("lines")
    if result.kind in TEXT_KINDS and lines:
        context = _lines_in_context(Path(result.path), lines[0], lines[1])
        if context is not None:
            return header + context
    return header + Text(result.text)


def _lines_in_context(path: Path, start: int, end: int) -> Text | None:
    from workbench.core.documents import SkipFile
    from workbench.core.textdecode import decode_text

    try:
        text, _ = decode_text(path.read_bytes())
    except (OSError, SkipFile):
        return None  # moved or unreadable since indexing: fall back to the chunk text
    all_lines = text.splitlines()
    first = max(1, start - CONTEXT_LINES)
    last = min(len(all_lines), end + CONTEXT_LINES)
    out = Text()
    width = len(str(last))
    for number in range(first, last + 1):
        inside = start <= number <= end
        out.append(f"{number:>{width}} ", style="bold cyan" if inside else "dim")
        out.append(all_lines[number - 1] + "\n", style="" if inside else "dim")
    return out
