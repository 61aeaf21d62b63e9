"""Shows a search hit in context: the lines around it, or its page, time range or metadata."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from workbench.presentation import format_locator, line_window

if TYPE_CHECKING:
    from collections.abc import Sequence

    from workbench.core.index.search import SearchResult
    from workbench.workbench import Workbench

TEXT_KINDS = {"text", "markdown", "rst", "code", "data"}


def preview_text(
    result: SearchResult, lines: Sequence[str] | None = None, title: str | None = None
) -> Text:
    """A Rich Text of ``result`` in context; the matching lines are highlighted.

    ``lines`` are the file's current lines (``Workbench.source_lines``); without them, or for
    a hit that is not in a text file, the chunk's own text is shown.
    """
    header = Text(f"{title or result.path}\n", style="bold")
    where = format_locator(result.locator)
    if where:
        header.append(f"{where} · {result.kind}\n\n", style="dim")
    span = result.locator.get("lines")
    if result.kind in TEXT_KINDS and span and lines is not None:
        return header + _numbered(lines, span[0], span[1])
    return header + Text(result.text)


def hit_preview(workbench: Workbench, result: SearchResult, title: str | None = None) -> Text:
    """``preview_text`` with the lines of the hit's file as it is now, where it has lines."""
    wants_lines = result.kind in TEXT_KINDS and bool(result.locator.get("lines"))
    return preview_text(result, workbench.source_lines(result) if wants_lines else None, title)


def _numbered(lines: Sequence[str], start: int, end: int) -> Text:
    window = line_window(lines, start, end)
    width = len(str(window[-1].number)) if window else 1
    out = Text()
    for line in window:
        out.append(f"{line.number:>{width}} ", style="bold cyan" if line.inside else "dim")
        out.append(line.text + "\n", style="" if line.inside else "dim")
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
    if pixels is None:
        return None
    out = Text()
    for y in range(0, height, 2):
        for x in range(width):
            upper, lower = _rgb(pixels[x, y]), _rgb(pixels[x, y + 1])
            out.append("▀", style=f"{upper} on {lower}")
        out.append("\n")
    return out


def _rgb(pixel: float | tuple[int, ...]) -> str:
    red, green, blue = pixel[:3] if isinstance(pixel, tuple) else (int(pixel),) * 3
    return f"rgb({red},{green},{blue})"
