"""The library's tables: their names, schemas and row types, and SQL filter helpers.

``store`` reads and writes these tables; ``integrity`` checks and salvages them. Columns
are only ever added to a schema (see ``Store._open_or_create``), never changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

FILES = "files"
CHUNKS = "chunks"
EMBEDDINGS = "embeddings"
FOLDERS = "folders"
VERSIONS = "versions"
SQL_BATCH = 400

FILES_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("folder", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("mtime_ns", pa.int64()),
        pa.field("hash", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("extractor", pa.string()),
        pa.field("extractor_version", pa.string()),
        pa.field("embedder", pa.string()),
        pa.field("status", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("chunks", pa.int32()),
        pa.field("indexed_at", pa.float64()),
        # JSON of the extractor's metadata: pages OCR'd, image size and EXIF, duration...
        pa.field("meta", pa.string()),
    ]
)
FOLDERS_SCHEMA = pa.schema(
    [pa.field("path", pa.string(), nullable=False), pa.field("added_at", pa.float64())]
)
# One row per sync that changed the index: the chunks table's version after it (the
# "index version" answers record), the files table's, and what changed (history.py).
VERSIONS_SCHEMA = pa.schema(
    [
        pa.field("version", pa.int64(), nullable=False),
        pa.field("files_version", pa.int64()),
        pa.field("created", pa.float64()),
        pa.field("new", pa.int32()),
        pa.field("changed", pa.int32()),
        pa.field("deleted", pa.int32()),
        pa.field("renamed", pa.int32()),
        pa.field("changes", pa.string()),  # JSON: [{"path", "action", "hash"}]
    ]
)


def chunks_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("path", pa.string(), nullable=False),
            pa.field("ordinal", pa.int32()),
            pa.field("text", pa.string()),
            pa.field("text_hash", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
            pa.field("kind", pa.string()),
            pa.field("locator", pa.string()),
            pa.field("embedder", pa.string()),
            pa.field("file_hash", pa.string()),
        ]
    )


def embeddings_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("key", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"


def table_names(db: Any) -> list[str]:
    """Every table of LanceDB connection ``db`` (all pages)."""
    names: list[str] = []
    token = None
    while True:
        page = db.list_tables(page_token=token)
        names += page.tables
        token = page.page_token
        if not token:
            return names


def batched(values: Sequence[Any], size: int = SQL_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class FileRecord:
    """What the store remembers about one file."""

    path: str
    folder: str
    size: int
    mtime_ns: int
    hash: str
    kind: str
    extractor: str
    extractor_version: str
    embedder: str
    status: str
    reason: str
    chunks: int
    indexed_at: float
    meta: str = ""
