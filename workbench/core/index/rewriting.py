"""Rewriting a table's history without some rows, and scanning every kept version for them.

LanceDB's delete only masks rows, and every older version (and tag) still reads them. To
remove rows for good, a table is written anew: each tagged version minus those rows (so
tags still check out), then the current rows, and every other version and unreferenced file
is deleted. The versions between tags go: they held the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from workbench.core.index.history import tags
from workbench.core.index.schema import batched, sql_in

# A table's rows at one point: (tag name or None for the current rows, the rows).
Snapshot = tuple[str | None, pa.Table]


def snapshots(table: Any) -> list[Snapshot]:
    """Each tagged version of ``table`` (oldest first), then its current rows."""
    result: list[Snapshot] = []
    for name, version in sorted(tags(table).items(), key=lambda item: item[1]):
        table.checkout(version)
        try:
            result.append((name, table.to_arrow()))
        finally:
            table.checkout_latest()
    result.append((None, table.to_arrow()))
    return result


def without(states: list[Snapshot], drop: Callable[[pa.Table], pa.Array]) -> list[Snapshot]:
    """``states`` without the rows ``drop`` marks."""
    return [(name, rows.filter(pc.invert(drop(rows))) if rows.num_rows else rows)
            for name, rows in states]  # fmt: skip


def only(states: list[Snapshot], keep: Callable[[pa.Table], pa.Array]) -> list[pa.Table]:
    """The rows ``keep`` marks, in each of ``states``."""
    return [rows.filter(keep(rows)) if rows.num_rows else rows for _name, rows in states]


def rewrite(
    db: Any,
    name: str,
    states: list[Snapshot],
    key: str,
    indexes: Callable[[Any], object] = lambda table: None,
) -> Any:
    """Write table ``name`` anew as ``states`` in order (each tagged as it says), rows told
    apart by their ``key`` column and compared whole; returns the table. Old tags must be
    gone (``drop_tags``) and old versions are left for ``purge``."""
    first_name, first = states[0]
    table = db.create_table(name, first, mode="overwrite")
    indexes(table)
    if first_name:
        table.tags.create(first_name, table.version)
    previous = first
    for tag_name, rows in states[1:]:
        _apply_delta(table, previous, rows, key)
        if tag_name:
            table.tags.create(tag_name, table.version)
        previous = rows
    return table


def _apply_delta(table: Any, before: pa.Table, after: pa.Table, key: str) -> None:
    old = {_row_key(row, key): row for row in before.to_pylist()}
    new = {_row_key(row, key): row for row in after.to_pylist()}
    gone = [k for k, row in old.items() if new.get(k) != row]
    added = [row for k, row in new.items() if old.get(k) != row]
    for part in batched(gone):
        table.delete(sql_in(key, list(part)))
    if added:
        table.add(pa.Table.from_pylist(added, after.schema))


def _row_key(row: dict[str, Any], key: str) -> str:
    return str(row[key])


def drop_tags(table: Any) -> None:
    for name in list(tags(table)):
        table.tags.delete(name)


def purge(table: Any) -> None:
    """Delete every version but the current and tagged ones, and every file they do not use
    (also those of interrupted writes: the caller holds the write lock)."""
    table.to_lance().cleanup_old_versions(
        older_than=timedelta(0), delete_unverified=True, error_if_tagged_old_versions=False
    )


# -- verification ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Needles:
    """What must not be found: exact values for path columns, text for everything else."""

    paths: frozenset[str]
    texts: tuple[str, ...]  # matched anywhere in a string (paths, hashes, marker text)
    ignore_case: tuple[str, ...] = ()  # the --match text

    def pattern(self) -> str | None:
        """One RE2 pattern (Arrow's regex engine) for every text needle."""
        parts = [_literal(t) for t in self.texts if t]
        parts += [f"(?i:{_literal(t)})" for t in self.ignore_case if t]
        return "|".join(parts) or None


def _literal(text: str) -> str:
    return "".join(c if c.isalnum() and c.isascii() else f"\\x{{{ord(c):x}}}" for c in text)


def scan_versions(table: Any, needles: Needles) -> Iterator[str]:
    """'TABLE@VERSION COLUMN: N rows' for each kept version of ``table`` holding a needle."""
    pattern = needles.pattern()
    name = table.name
    versions = [int(v["version"]) for v in table.list_versions()]
    try:
        for version in versions:
            table.checkout(version)
            rows = table.to_arrow()
            for column in rows.column_names:
                found = _matches(rows.column(column), column, needles, pattern)
                if found:
                    yield f"{name}@{version} {column}: {found} rows"
    finally:
        table.checkout_latest()


def _matches(values: Any, column: str, needles: Needles, pattern: str | None) -> int:
    kind = values.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return 0
    hits = pc.is_in(values, value_set=pa.array(sorted(needles.paths), pa.string()))
    if pattern:
        hits = pc.or_(hits, pc.match_substring_regex(values, pattern))
    return int(pc.sum(pc.fill_null(hits, False)).as_py() or 0)


def scan_bytes(data: bytes, needles: Sequence[bytes]) -> list[bytes]:
    """The needles found in ``data`` (raw bytes of a file on disk)."""
    return [needle for needle in needles if needle and needle in data]
