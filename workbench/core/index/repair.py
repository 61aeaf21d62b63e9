"""Rebuild a damaged library index from the files on disk, keeping what can still be read.

The folders on disk are the source of truth for files and chunks, so those tables are rebuilt
by a normal sync. What cannot be rebuilt from disk is salvaged row range by row range: the
folder list, the vector cache (so intact vectors are not computed again) and the answer log.
The damaged index is moved aside, not deleted, and its place is given to a fresh one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from workbench.core.answering.answers import ANSWERS
from workbench.core.index.store import EMBEDDINGS, FILES, FOLDERS, Store


@dataclass
class Salvage:
    """What was read back from a damaged index."""

    folders: list[str] = field(default_factory=list)
    tables: dict[str, pa.Table] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)  # digests of forgotten paths on disk

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows kept and lost per salvaged table (folders: the folders found)."""
        counts = {
            name: {"kept": self.tables[name].num_rows if name in self.tables else 0,
                   "lost": self.lost.get(name, 0)}
            for name in (EMBEDDINGS, ANSWERS)
        }  # fmt: skip
        counts[FOLDERS] = {"kept": len(self.folders), "lost": self.lost.get(FOLDERS, 0)}
        return counts


def salvage(store: Store) -> Salvage:
    """The readable rows of the tables a sync cannot rebuild."""
    saved = Salvage(forgotten=store.forgotten())  # or the rebuild would index them again
    for name in (FOLDERS, EMBEDDINGS, ANSWERS):
        rows, lost = store.salvage(name)
        if rows is not None and rows.num_rows:
            saved.tables[name] = rows
        saved.lost[name] = lost
    if FOLDERS in saved.tables:
        saved.folders = sorted(set(saved.tables.pop(FOLDERS).column("path").to_pylist()))
    else:  # the folder list is gone: the files table knows which folders its files came from
        rows, _ = store.salvage(FILES)
        if rows is not None:
            saved.folders = sorted({f for f in rows.column("folder").to_pylist() if f})
    return saved


def restore(store: Store, saved: Salvage) -> None:
    """Write the salvaged rows into a fresh ``store``."""
    if saved.forgotten:
        store.set_forgotten(saved.forgotten)
    for folder in saved.folders:
        store.add_folder(folder, time.time())
    for name, rows in saved.tables.items():
        table: Any = store.table(name) if name != ANSWERS else None
        if table is None:
            store.db.create_table(name, data=rows)
        else:
            table.add(rows.select(table.schema.names).cast(table.schema))
