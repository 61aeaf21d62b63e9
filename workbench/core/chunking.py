"""Packs extracted blocks into chunks of at most ``max_tokens`` embedder tokens.

Blocks under the same heading (and page) are packed together greedily; a block too long for
one chunk is split at lines, and a line too long is split at token boundaries. Each chunk's
text starts with its heading path, so both the embedder and full-text search see the context.
A chunk's locator spans its blocks: page, line range, time range (recordings) and the box
around the image regions its text was read from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from workbench.core.documents import Block

SPECIAL_TOKENS = 2  # [CLS] and [SEP]
MAX_HEADING_TOKENS = 48


@dataclass
class Chunk:
    """One searchable piece of a file."""

    ordinal: int
    text: str
    locator: dict[str, Any]

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class _Piece:
    text: str
    tokens: int
    line_start: int | None
    line_end: int | None
    start_s: float | None = None
    end_s: float | None = None
    region: tuple[int, int, int, int] | None = None


def chunk_blocks(blocks: Sequence[Block], counter: Any, max_tokens: int = 256) -> list[Chunk]:
    """Chunks for ``blocks``, each at most ``max_tokens`` tokens including the special tokens.

    ``counter`` is the embedder: it provides ``count_tokens`` and ``token_offsets``.
    """
    groups: list[tuple[tuple[str, int | None], list[Block]]] = []
    for block in blocks:
        key = (block.heading, block.page)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(block)
        else:
            groups.append((key, [block]))

    headings = sorted({heading for (heading, _), _ in groups if heading})
    heading_tokens = dict(zip(headings, counter.count_tokens(headings), strict=True))
    chunks: list[Chunk] = []
    for (heading, page), group in groups:
        if heading and heading_tokens[heading] > MAX_HEADING_TOKENS:
            heading = _truncate(heading, counter, MAX_HEADING_TOKENS)
            heading_tokens[heading] = MAX_HEADING_TOKENS
        budget = max_tokens - SPECIAL_TOKENS - (heading_tokens[heading] if heading else 0)
        for piece in _pack(_pieces(group, counter, budget), budget):
            locator: dict[str, Any] = {}
            if page is not None:
                locator["page"] = page
            if piece.line_start is not None:
                locator["lines"] = [piece.line_start, piece.line_end]
            if piece.start_s is not None:
                locator["time"] = [round(piece.start_s, 2), round(piece.end_s or piece.start_s, 2)]
            if piece.region is not None:
                locator["region"] = list(piece.region)
            if heading:
                locator["heading"] = heading
            text = f"{heading}\n\n{piece.text}" if heading else piece.text
            chunks.append(Chunk(len(chunks), text, locator))
    return chunks


def _pieces(blocks: list[Block], counter: Any, budget: int) -> list[_Piece]:
    """Blocks as pieces that each fit ``budget``: long blocks split at lines, then tokens."""
    counts = counter.count_tokens([block.text for block in blocks])
    pieces: list[_Piece] = []
    for block, tokens in zip(blocks, counts, strict=True):
        if tokens <= budget:
            pieces.append(_piece(block, block.text, tokens, block.line_start, block.line_end))
            continue
        lines = block.text.split("\n")
        line_counts = counter.count_tokens(lines)
        first = block.line_start
        for offset, (line, line_tokens) in enumerate(zip(lines, line_counts, strict=True)):
            number = None if first is None else first + offset
            if not line.strip():
                continue
            if line_tokens <= budget:
                pieces.append(_piece(block, line, line_tokens, number, number))
            else:
                for part, part_tokens in _split_by_tokens(line, counter, budget):
                    pieces.append(_piece(block, part, part_tokens, number, number))
    return pieces


def _piece(block: Block, text: str, tokens: int, start: int | None, end: int | None) -> _Piece:
    """A piece of ``block``: its own lines, the block's time range and region."""
    return _Piece(text, tokens, start, end, block.start_s, block.end_s, block.region)


def _split_by_tokens(text: str, counter: Any, budget: int) -> list[tuple[str, int]]:
    offsets = counter.token_offsets(text)
    parts = []
    for start in range(0, len(offsets), budget):
        window = offsets[start : start + budget]
        begin = window[0][0]
        end = offsets[start + budget][0] if start + budget < len(offsets) else len(text)
        parts.append((text[begin:end].strip(), len(window)))
    return [(part, tokens) for part, tokens in parts if part]


def _pack(pieces: list[_Piece], budget: int) -> list[_Piece]:
    packed: list[_Piece] = []
    for piece in pieces:
        last = packed[-1] if packed else None
        if last is not None and last.tokens + piece.tokens <= budget:
            separator = "\n" if _adjacent(last, piece) else "\n\n"
            last.text = f"{last.text}{separator}{piece.text}"
            last.tokens += piece.tokens
            last.line_end = piece.line_end if piece.line_end is not None else last.line_end
            last.start_s = last.start_s if last.start_s is not None else piece.start_s
            last.end_s = piece.end_s if piece.end_s is not None else last.end_s
            last.region = _union(last.region, piece.region)
        else:
            packed.append(replace(piece))
    return packed


def _union(
    left: tuple[int, int, int, int] | None, right: tuple[int, int, int, int] | None
) -> tuple[int, int, int, int] | None:
    """The box around two regions (either may be missing)."""
    if left is None or right is None:
        return left or right
    return (
        min(left[0], right[0]),
        min(left[1], right[1]),
        max(left[2], right[2]),
        max(left[3], right[3]),
    )


def _adjacent(left: _Piece, right: _Piece) -> bool:
    return (
        left.line_end is not None
        and right.line_start is not None
        and right.line_start == left.line_end + 1
    )


def _truncate(text: str, counter: Any, tokens: int) -> str:
    offsets = counter.token_offsets(text)
    # One token of room for the ellipsis.
    return text[: offsets[tokens - 2][1]] + " …" if len(offsets) > tokens else text
