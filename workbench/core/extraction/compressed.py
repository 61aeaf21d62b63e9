"""Compressed text files (NEWS.gz, changelog.Debian.gz, app.log.xz): read through in memory.

A compressed file is decompressed (never past ``max_file_mb`` nor ``UNPACKED_LIMIT``) and handed
to the extractor of the name without the compression suffix: ``README.md.gz`` is markdown,
``changelog.gz`` text. Only text kinds are read this way; archives (``.tar.gz``) and compressed
media are not. A file over the limit that packs more than ``MAX_RATIO``:1 is a decompression
bomb and fails; one that is merely big is skipped.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.core.extraction.documents import Extraction, ExtractionError, SkipFile
from workbench.core.extraction.unpacking import (
    MAX_RATIO,
    READ_CHUNK,
    UNPACKED_LIMIT,
    bomb,
    format_size,
)

if TYPE_CHECKING:
    from workbench.core.protocols import Extractor

OPENERS: dict[str, Any] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
TEXT_KINDS = frozenset({"text", "markdown", "rst", "code", "data", "html"})


@dataclass(frozen=True)
class CompressedExtractor:
    """``inner``'s extractor, reading the decompressed bytes of a ``suffix`` file."""

    inner: Extractor
    suffix: str
    max_bytes: int

    @property
    def name(self) -> str:
        return f"{self.inner.name}{self.suffix}"

    @property
    def version(self) -> str:
        return str(self.inner.version)

    @property
    def kind(self) -> str:
        return str(getattr(self.inner, "kind", ""))  # the registry wraps text kinds only

    def extract(self, path: Path, data: bytes) -> Extraction:
        plain = decompress(data, self.suffix, self.max_bytes)
        return self.inner.extract(path.with_suffix(""), plain)


def decompress(data: bytes, suffix: str, max_bytes: int) -> bytes:
    """The decompressed bytes, never more than ``max_bytes`` (nor ``UNPACKED_LIMIT``) of them.

    Raises:
        ExtractionError: a broken stream, or a decompression bomb.
        SkipFile: too large once decompressed, without looking like a bomb.
    """
    limit = min(max_bytes, UNPACKED_LIMIT)
    source = io.BytesIO(data)
    parts: list[bytes] = []
    size = 0
    try:
        with OPENERS[suffix](source) as stream:
            while size <= limit and (part := stream.read(min(READ_CHUNK, limit + 1 - size))):
                parts.append(part)
                size += len(part)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ExtractionError(
            f"cannot decompress this {suffix[1:]} file ({exc}); it may be truncated or not "
            f"really {suffix[1:]}"
        ) from None
    if size > limit:
        _refuse(_expanded(data, suffix, limit), size, source.tell(), limit, max_bytes)
    return b"".join(parts)


def _expanded(data: bytes, suffix: str, limit: int) -> str:
    """How big the file says it unpacks to (a gzip trailer, modulo 4 GB), or "more than"."""
    if suffix == ".gz" and len(data) >= 18:
        declared = int(struct.unpack("<L", data[-4:])[0])  # a hint: it is read only this far
        if declared > limit:
            return format_size(declared)
    return f"more than {format_size(limit)}"


def _refuse(expanded: str, unpacked: int, packed: int, limit: int, max_bytes: int) -> None:
    """Fail a bomb, skip a file that is merely too large once decompressed."""
    raise_hint = "raise max_file_mb in config.toml" if limit == max_bytes else "split it"
    if unpacked > MAX_RATIO * max(packed, 1):
        raise ExtractionError(bomb(expanded, limit, f"{raise_hint} to index it"))
    setting = " = max_file_mb" if limit == max_bytes else " for unpacked content"
    raise SkipFile(
        f"too large once decompressed ({expanded} > {format_size(limit)}{setting}); "
        f"{raise_hint} to index it"
    )
