"""Packs extracted blocks into chunks of at most ``max_tokens`` embedder tokens.

Blocks under the same heading (and page) are packed together greedily; a block too long for
one chunk is split at lines, and a line too long is split at token boundaries. Each chunk's
text starts with its heading path, so both the embedder and full-text search see the context.
Work stays linear in the text's size: the tokenizer never sees more than ``WINDOW_CHARS``
characters at once (it slows down superlinearly on one long string) nor more than
``COUNT_BATCH`` texts at once, and pieces flow through without a list of every line.
A chunk's locator spans its blocks: page, line range, time range (recordings) and the box
around the image regions its text was read from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, TypeVar

from workbench.core.extraction.documents import Block

SPECIAL_TOKENS = 2  # [CLS] and [SEP]
MAX_HEADING_TOKENS = 48
# The most characters tokenized at once, and in one chunk (headings aside). 254 tokens of
# prose are about 1,200 characters; more only with words the tokenizer cannot split ([UNK]).
WINDOW_CHARS = 4096
COUNT_BATCH = 512  # texts per count_tokens call: memory stays flat over millions of lines

T = TypeVar("T")


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
        # A heading is cut to MAX_HEADING_TOKENS below: no need to tokenize all of a huge one.
        key = (block.heading[:WINDOW_CHARS], block.page)
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


def _pieces(blocks: list[Block], counter: Any, budget: int) -> Iterator[_Piece]:
    """Blocks as pieces that each fit ``budget``: long blocks split at lines, then tokens."""
    for batch in _batched(blocks, COUNT_BATCH):
        counts = _counts([block.text for block in batch], counter)
        for block, tokens in zip(batch, counts, strict=True):
            if tokens is not None and tokens <= budget:
                yield _piece(block, block.text, tokens, block.line_start, block.line_end)
            else:
                yield from _line_pieces(block, counter, budget)


def _line_pieces(block: Block, counter: Any, budget: int) -> Iterator[_Piece]:
    """A block too long for one piece, line by line; a line too long split by tokens."""
    first = block.line_start
    numbered = (
        (None if first is None else first + offset, line)
        for offset, line in enumerate(_lines(block.text))
        if line.strip()
    )
    for batch in _batched(numbered, COUNT_BATCH):
        counts = _counts([line for _, line in batch], counter)
        for (number, line), tokens in zip(batch, counts, strict=True):
            if tokens is not None and tokens <= budget:
                yield _piece(block, line, tokens, number, number)
            else:
                for part, part_tokens in _split_by_tokens(line, counter, budget):
                    yield _piece(block, part, part_tokens, number, number)


def _counts(texts: list[str], counter: Any) -> list[int | None]:
    """Token counts of the texts short enough to tokenize whole; None for the others."""
    short = [index for index, text in enumerate(texts) if len(text) <= WINDOW_CHARS]
    counts: list[int | None] = [None] * len(texts)
    for index, tokens in zip(short, counter.count_tokens([texts[i] for i in short]), strict=True):
        counts[index] = tokens
    return counts


def _lines(text: str) -> Iterator[str]:
    """``text.split("\\n")``, one line at a time."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _piece(block: Block, text: str, tokens: int, start: int | None, end: int | None) -> _Piece:
    """A piece of ``block``: its own lines, the block's time range and region."""
    return _Piece(text, tokens, start, end, block.start_s, block.end_s, block.region)


def _split_by_tokens(text: str, counter: Any, budget: int) -> Iterator[tuple[str, int]]:
    """Parts of ``text`` of ``budget`` tokens (the last may be shorter), window by window.

    Tokens left over at a window's end are carried into the next window, so parts stay full;
    a window without ``budget`` tokens in it (words the tokenizer cannot split) is one part.
    """
    start = 0
    while start < len(text):
        end = _window_end(text, start)
        window = text[start:end]
        offsets = counter.token_offsets(window)
        full = len(offsets) // budget
        if end == len(text) or full == 0:  # the text ends here, or no part can be filled
            groups, carry = range(0, len(offsets), budget), len(window)
        else:
            groups = range(0, full * budget, budget)
            carry = offsets[full * budget][0] if full * budget < len(offsets) else len(window)
        for group in groups:
            begin = offsets[group][0]
            stop = offsets[group + budget][0] if group + budget < len(offsets) else len(window)
            part = window[begin:stop].strip()
            if part:
                yield part, min(budget, len(offsets) - group)
        start += carry if carry > 0 else len(window)


def _window_end(text: str, start: int) -> int:
    """Where the window from ``start`` ends: at a space if there is one in its second half."""
    limit = start + WINDOW_CHARS
    if limit >= len(text):
        return len(text)
    space = text.rfind(" ", start + WINDOW_CHARS // 2, limit)
    return space + 1 if space >= 0 else limit


def _pack(pieces: Iterable[_Piece], budget: int) -> list[_Piece]:
    """Consecutive pieces joined while they fit ``budget`` tokens and ``WINDOW_CHARS``."""
    packed: list[_Piece] = []
    for piece in pieces:
        last = packed[-1] if packed else None
        if (
            last is not None
            and last.tokens + piece.tokens <= budget
            and len(last.text) + len(piece.text) < WINDOW_CHARS
        ):
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
