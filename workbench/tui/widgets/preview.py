"""Shows a search hit in context: the lines around it, or its page, time range or metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text

from workbench.core.index.search import format_locator

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
    from workbench.core.extraction.documents import SkipFile
    from workbench.core.extraction.textdecode import decode_text

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


def image_blocks(path: Path, width: int = 48) -> Text | None:
    """The picture as coloured half-block characters: works in any true-colour terminal."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            image.draft("RGB", (width * 4, width * 4))  # JPEG: decode at a fraction of the size
            picture = image.convert("RGB")
    except Exception:  # noqa: BLE001 - unreadable or vanished: the text preview still shows
        return None
    height = max(2, round(picture.height * width / max(1, picture.width) / 2) * 2)
    picture = picture.resize((width, height))
    pixels = picture.load()
    out = Text()
    for y in range(0, height, 2):
        for x in range(width):
            top, bottom = pixels[x, y], pixels[x, y + 1]
            upper, lower = "rgb({},{},{})".format(*top), "rgb({},{},{})".format(*bottom)
            out.append("▀", style=f"{upper} on {lower}")
        out.append("\n")
    return out
