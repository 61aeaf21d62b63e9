"""Lineage: where one file's rows in the index came from, and where they went.

The file's content hash, the extractor and engine versions that read it (OCR, speech), the
chunker settings and embedder that cut and embedded it, the index versions in which it
changed (and the tags that hold it), and the logged answers that used or cited it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from workbench.core.answering.answers import ANSWERS, rows_naming
from workbench.core.index.history import kept, synced_versions, tags
from workbench.core.index.schema import sql_str, table_names
from workbench.core.index.store import Store

# Which engines read which kinds of file.
ENGINE_KINDS = {"tesseract": ("pdf", "image"), "rapidocr": ("pdf", "image"), "whisper": ("audio",)}


@dataclass
class Lineage:
    """`workbench lineage PATH`."""

    path: str
    indexed: dict[str, Any] | None  # the file's row now; None when not in the index now
    engines: list[dict[str, Any]] = field(default_factory=list)
    chunker: dict[str, Any] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)  # where it changed
    tags: list[str] = field(default_factory=list)  # tags whose version holds it
    answers: list[dict[str, Any]] = field(default_factory=list)  # that used it

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def lineage(
    store: Store, path: str, *, chunker: dict[str, Any], engines: list[dict[str, Any]]
) -> Lineage | None:
    """The lineage of ``path``; None when the index, its history and its logs never had it."""
    row = _row(store, path)
    indexed = None
    if row is not None:
        meta = json.loads(row.pop("meta") or "{}")
        row["indexed_at"] = (
            datetime.fromtimestamp(row["indexed_at"]).astimezone().isoformat(timespec="seconds")
        )
        indexed = row | {"meta": meta}
    versions = [
        {"version": entry["version"], "created": _when(entry["created"]), **change}
        for entry in synced_versions(store)
        for change in entry["changes"]
        if path in (change.get("path"), change.get("from"))
    ]
    holding = _tags_holding(store, path)
    answers = _answers(store, path)
    if indexed is None and not versions and not holding and not answers:
        return None
    kind = (indexed or {}).get("kind", "")
    used = [e for e in engines if kind in ENGINE_KINDS.get(e["name"], ()) and e["available"]]
    return Lineage(path, indexed, used, chunker, versions, holding, answers)


def _row(store: Store, path: str) -> dict[str, Any] | None:
    rows = store.files.search().where(f"path = {sql_str(path)}").limit(1).to_arrow().to_pylist()
    return rows[0] if rows else None


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _tags_holding(store: Store, path: str) -> list[str]:
    holding = []
    on_disk = kept(store.files)
    for name, version in sorted(tags(store.files).items()):
        if version not in on_disk:
            continue
        snapshot = store.snapshot({"files": version}).files
        if snapshot.count_rows(f"path = {sql_str(path)}"):
            holding.append(name)
    return holding


def _answers(store: Store, path: str) -> list[dict[str, Any]]:
    """Logged answers that were shown the file (``cited``: and cited it)."""
    if ANSWERS not in table_names(store.db):
        return []
    table = store.db.open_table(ANSWERS)
    found = []
    for row in rows_naming(table, path, ["id", "created", "question", "record"]):
        record = json.loads(row["record"])
        shown = any(source.get("path") == path for source in record.get("sources", []))
        cited = any(citation.get("path") == path for citation in record.get("citations", []))
        if shown or cited:
            found.append(
                {"id": row["id"], "created": _when(row["created"]), "question": row["question"],
                 "cited": cited, "index_version": record.get("index_version")}
            )  # fmt: skip
    return sorted(found, key=lambda answer: answer["created"])
