"""Finding what of a library cannot be read back from disk, and saving what still can.

``Store.check`` and ``Store.salvage`` call these; ``repair`` rebuilds a library from what
``salvage_table`` returns.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from workbench.core.index.failures import first_line
from workbench.core.index.schema import CHUNKS

# A filter on a small numeric column: counting with it opens every data file of the table.
_QUICK_PROBES = {"files": "chunks < 0", "chunks": "ordinal < 0", "folders": "added_at < 0"}
# What LanceDB raises for a missing or truncated data file.
_UNREADABLE = (RuntimeError, OSError, ValueError)


def check_tables(db: Any, full: bool = False) -> list[str]:
    """What cannot be read back from the tables of ``db``, one line per table.

    The quick check reads one small column of the tables every command uses, which opens
    every data file (a truncated one fails); ``full`` reads every column of every table and
    queries the full-text index.
    """
    problems = []
    for name in sorted(db.list_tables().tables):
        probe = _QUICK_PROBES.get(name)
        if probe is None and not full:
            continue
        try:
            table = db.open_table(name)
            if full:
                _read_everything(name, table)
            else:
                table.count_rows(probe)
        except _UNREADABLE as exc:
            problems.append(f"{name}: {first_line(str(exc))}")
    return problems


def _read_everything(name: str, table: Any) -> None:
    for _ in table.search().limit(None).to_batches():
        pass
    if name == CHUNKS and any("text" in i.name for i in table.list_indices()):
        table.search("check", query_type="fts").limit(1).to_arrow()


def salvage_table(db: Any, name: str, page: int = 1024) -> tuple[pa.Table | None, int]:
    """The rows of table ``name`` that can still be read, and how many could not."""
    try:
        table = db.open_table(name)
        total = table.count_rows()
    except _UNREADABLE:
        return None, 0
    parts: list[pa.Table] = []
    lost = 0
    pending = [(start, min(page, total - start)) for start in range(0, total, page)]
    while pending:
        start, size = pending.pop(0)
        try:
            parts.append(table.search().offset(start).limit(size).to_arrow())
        except _UNREADABLE:
            if size <= 16:  # small enough: these rows are gone
                lost += size
            else:  # narrow it down, keeping the readable half
                half = size // 2
                pending[:0] = [(start, half), (start + half, size - half)]
    if not parts:
        return None, lost
    return pa.concat_tables(parts), lost
