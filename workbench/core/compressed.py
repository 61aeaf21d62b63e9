"""Compressed text files (NEWS.gz, changelog.Debian.gz, app.log.xz): read through in memory.

A compressed file is decompressed (never past ``max_file_mb``) and handed to the extractor of
the name without the compression suffix: ``README.md.gz`` is markdown, ``changelog.gz`` text.
Only text kinds are read this way; archives (``.tar.gz``) and compressed media are not.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.documents import Extraction, ExtractionError, SkipFile

OPENERS: dict[str, Any] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
TEXT_KINDS = frozenset({"text", "markdown", "rst", "code", "data", "html"})


@dataclass(frozen=True)
class CompressedExtractor:
    """``inner``'s extractor, reading the decompressed bytes of a ``suffix`` file."""

    inner: Any
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
        return str(self.inner.kind)

    def extract(self, path: Path, data: bytes) -> Extraction:
        plain = decompress(data, self.suffix, self.max_bytes)
        return self.inner.extract(path.with_suffix(""), plain)


def decompress(data: bytes, suffix: str, max_bytes: int) -> bytes:
    """The decompressed bytes; a bomb past ``max_bytes`` is skipped, a broken stream fails."""
    try:
        with OPENERS[suffix](io.BytesIO(data)) as stream:
            plain: bytes = stream.read(max_bytes + 1)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ExtractionError(
            f"cannot decompress this {suffix[1:]} file ({exc}); it may be truncated or not "
            f"really {suffix[1:]}"
        ) from None
    if len(plain) > max_bytes:
        raise SkipFile(
            f"too large once decompressed (> {max_bytes / 2**20:g} MiB = max_file_mb); raise "
            "max_file_mb in config.toml to index it"
        )
    return plain
