"""Built-in extractors for text kinds: plain text, markdown, reStructuredText, code, data, HTML.

Each splits a file into Blocks with line numbers and heading paths; the chunker packs them.
Bump an extractor's ``version`` when its output changes: files of that kind are re-extracted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.core.extraction.documents import Block, Extraction, SkipFile
from workbench.core.extraction.textdecode import decode_text
from workbench.core.extraction.unpacking import format_size

if TYPE_CHECKING:
    from workbench.core.protocols import Extractor

CODE_SUFFIXES = frozenset(
    ".py .pyi .js .mjs .cjs .ts .tsx .jsx .java .c .h .cpp .hpp .cc .cxx .hh .go .rs .rb .php "
    ".cs .swift .kt .kts .scala .sh .bash .zsh .fish .ps1 .sql .r .lua .pl .pm .m .mm .hs .ex "
    ".exs .erl .clj .cljs .dart .vue .svelte .css .scss .sass .less .ini .cfg .conf .gradle "
    ".cmake .proto .graphql .tf .nix .zig .jl .f90 .asm .bat .el .vim .ml .fs".split()
)
CODE_FILENAMES = frozenset({"Makefile", "Dockerfile", "CMakeLists.txt", "Rakefile", "Gemfile"})
DATA_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".csv", ".tsv"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".log", ".tex", ".org", ".adoc", ".rtf", ""})
# A longer line is minified code, a data dump or an encoded blob (base64), not text to search:
# it is left out. Its chunks would take minutes to embed and match nothing a person types.
MAX_LINE_CHARS = 2**20


def text_lines(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The lines of ``text``, with lines over ``MAX_LINE_CHARS`` blanked out.

    Returns:
        The lines, and (line number, length) of each blanked line.
    """
    lines = text.splitlines()
    if len(text) <= MAX_LINE_CHARS:
        return lines, []
    long_lines = [
        (number, len(line))
        for number, line in enumerate(lines, start=1)
        if len(line) > MAX_LINE_CHARS
    ]
    for number, _ in long_lines:
        lines[number - 1] = ""
    return lines, long_lines


def without_long_lines(extraction: Extraction, long_lines: list[tuple[int, int]]) -> Extraction:
    """``extraction``, noting the lines left out; a file with nothing else is skipped.

    Raises:
        SkipFile: every line with text in it was too long.
    """
    if not long_lines:
        return extraction
    number, length = max(long_lines, key=lambda line: line[1])
    if not extraction.blocks:
        many = f"{len(long_lines)} lines are" if len(long_lines) > 1 else "its one line is"
        raise SkipFile(
            f"{many} too long to be text (line {number}: {format_size(length)} without a line "
            f"break, over the {format_size(MAX_LINE_CHARS)} limit for one line): minified "
            "code, a data dump or encoded data; break it into lines to index it"
        )
    extraction.metadata["long_lines"] = [line for line, _ in long_lines]
    return extraction


def paragraphs(lines: list[str], heading: str = "", first_line: int = 1) -> Iterable[Block]:
    """Blocks of consecutive non-blank lines; line numbers are 1-based."""
    start: int | None = None
    for offset, line in enumerate([*lines, ""]):
        if line.strip():
            if start is None:
                start = offset
        elif start is not None:
            yield Block(
                "\n".join(lines[start:offset]),
                first_line + start,
                first_line + offset - 1,
                heading,
            )
            start = None


def heading_path(stack: list[str]) -> str:
    return " > ".join(title for title in stack if title)


@dataclass(frozen=True)
class PlainTextExtractor:
    """Plain text in any encoding, split into paragraphs."""

    name: str = "text"
    version: str = "1"
    kind: str = "text"
    suffixes: frozenset[str] = TEXT_SUFFIXES
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        text, encoding = decode_text(data)
        lines, long_lines = text_lines(text)
        blocks = list(paragraphs(lines))
        return without_long_lines(Extraction(self.kind, blocks, {"encoding": encoding}), long_lines)


_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class MarkdownExtractor:
    """Markdown split at headings; every block carries its heading path ("Guide > Setup")."""

    name: str = "markdown"
    version: str = "1"
    kind: str = "markdown"
    suffixes: frozenset[str] = frozenset({".md", ".markdown", ".mdx", ".mdown"})
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        text, encoding = decode_text(data)
        lines, long_lines = text_lines(text)
        blocks: list[Block] = []
        stack: list[str] = []
        section_start = 0
        in_fence = False

        def flush(end: int) -> None:
            heading = heading_path(stack)
            blocks.extend(paragraphs(lines[section_start:end], heading, section_start + 1))

        for number, line in enumerate(lines):
            if _FENCE.match(line):
                in_fence = not in_fence
                continue
            match = None if in_fence else _ATX_HEADING.match(line)
            if match:
                flush(number)
                level = len(match.group(1))
                del stack[level - 1 :]
                stack.extend([""] * (level - 1 - len(stack)))
                stack.append(match.group(2))
                section_start = number + 1
        flush(len(lines))
        if not blocks and stack:  # a file of headings only still says something
            blocks.append(Block(heading_path(stack), 1, len(lines)))
        return without_long_lines(Extraction(self.kind, blocks, {"encoding": encoding}), long_lines)


_RST_UNDERLINE = re.compile(r"^([=\-`:'\"~^_*+#<>])\1{2,}\s*$")


@dataclass(frozen=True)
class RstExtractor:
    """reStructuredText split at section titles (underlined lines)."""

    name: str = "rst"
    version: str = "1"
    kind: str = "rst"
    suffixes: frozenset[str] = frozenset({".rst", ".rest"})
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        text, encoding = decode_text(data)
        lines, long_lines = text_lines(text)
        levels: list[str] = []
        stack: list[str] = []
        blocks: list[Block] = []
        section_start = 0
        number = 0
        while number < len(lines):
            line = lines[number]
            below = lines[number + 1] if number + 1 < len(lines) else ""
            underline = _RST_UNDERLINE.match(below)
            if line.strip() and underline and len(below.strip()) >= len(line.strip()):
                blocks.extend(
                    paragraphs(lines[section_start:number], heading_path(stack), section_start + 1)
                )
                char = underline.group(1)
                if char not in levels:
                    levels.append(char)
                level = levels.index(char)
                del stack[level:]
                stack.extend([""] * (level - len(stack)))
                stack.append(line.strip())
                section_start = number + 2
                number += 2
                continue
            number += 1
        blocks.extend(paragraphs(lines[section_start:], heading_path(stack), section_start + 1))
        return without_long_lines(Extraction(self.kind, blocks, {"encoding": encoding}), long_lines)


@dataclass(frozen=True)
class CodeExtractor:
    """Source code as line ranges, split at blank lines (usually between definitions)."""

    name: str = "code"
    version: str = "1"
    kind: str = "code"
    suffixes: frozenset[str] = CODE_SUFFIXES
    filenames: frozenset[str] = CODE_FILENAMES

    def extract(self, path: Path, data: bytes) -> Extraction:
        text, encoding = decode_text(data)
        lines, long_lines = text_lines(text)
        blocks = list(paragraphs(lines))
        language = path.suffix.lstrip(".") or path.name
        metadata = {"encoding": encoding, "language": language}
        return without_long_lines(Extraction(self.kind, blocks, metadata), long_lines)


@dataclass(frozen=True)
class DataExtractor:
    """JSON, YAML, TOML, CSV and TSV as line ranges; CSV chunks carry the header row."""

    name: str = "data"
    version: str = "1"
    kind: str = "data"
    suffixes: frozenset[str] = DATA_SUFFIXES
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        text, encoding = decode_text(data)
        lines, long_lines = text_lines(text)
        if path.suffix.lower() in {".csv", ".tsv"} and lines:
            header = f"columns: {lines[0]}"
            blocks = [
                Block(line, number, number, header)
                for number, line in enumerate(lines[1:], start=2)
                if line.strip()
            ]
            if not blocks:
                blocks = [Block(lines[0], 1, 1)]
        else:
            # Data files rarely have blank lines: one block per line, the chunker packs them.
            blocks = [
                Block(line, number, number)
                for number, line in enumerate(lines, start=1)
                if line.strip()
            ]
        metadata = {"encoding": encoding, "format": path.suffix[1:]}
        return without_long_lines(Extraction(self.kind, blocks, metadata), long_lines)


_BLOCK_TAGS = frozenset(
    "p div section article main aside header footer nav li ul ol table tr td th pre blockquote "
    "br hr dt dd figure figcaption form h1 h2 h3 h4 h5 h6 title".split()
)
_HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head"})


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._hidden = 0
        self._in_title = False
        self._heading_level = 0
        self._stack: list[str] = []
        self._parts: list[str] = []
        self._start_line: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        if tag == "title":
            self._in_title = True
        if tag in _BLOCK_TAGS:
            self._flush()
        if re.fullmatch(r"h[1-6]", tag):
            self._heading_level = int(tag[1])

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS and self._hidden:
            self._hidden -= 1
        if tag == "title":
            self._in_title = False
        if re.fullmatch(r"h[1-6]", tag) and self._heading_level:
            title = " ".join("".join(self._parts).split())
            level = self._heading_level
            del self._stack[level - 1 :]
            self._stack.extend([""] * (level - 1 - len(self._stack)))
            self._stack.append(title)
            self._heading_level = 0
            self._parts, self._start_line = [], None
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._hidden or not data.strip():
            if data and self._parts:
                self._parts.append(" ")
            return
        if self._start_line is None:
            self._start_line = self.getpos()[0]
        self._parts.append(data)

    def _flush(self) -> None:
        if self._heading_level:
            return
        text = " ".join("".join(self._parts).split())
        if text:
            line = self._start_line or self.getpos()[0]
            self.blocks.append(Block(text, line, self.getpos()[0], heading_path(self._stack)))
        self._parts, self._start_line = [], None

    def close(self) -> None:
        super().close()
        self._heading_level = 0
        self._flush()


@dataclass(frozen=True)
class HtmlExtractor:
    """The visible text of an HTML page (no scripts, styles or markup), split at headings."""

    name: str = "html"
    version: str = "1"
    kind: str = "html"
    suffixes: frozenset[str] = frozenset({".html", ".htm", ".xhtml"})
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        text, encoding = decode_text(data)
        parser = _VisibleText()
        parser.feed(text)
        parser.close()
        title = " ".join(parser.title.split())
        blocks = parser.blocks
        if title:
            for block in blocks:
                block.heading = f"{title} > {block.heading}" if block.heading else title
        if not blocks and title:
            blocks = [Block(title, 1, 1)]
        return Extraction(self.kind, blocks, {"encoding": encoding, "title": title})


def builtin_extractors() -> list[Extractor]:
    return [
        PlainTextExtractor(),
        MarkdownExtractor(),
        RstExtractor(),
        CodeExtractor(),
        DataExtractor(),
        HtmlExtractor(),
    ]


__all__ = ["SkipFile", "builtin_extractors"]
