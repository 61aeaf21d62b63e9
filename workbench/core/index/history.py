"""Index history: the versions a library keeps, the tags that pin them, and reading one back.

LanceDB keeps every commit of a table as a version. The *index version* is the ``chunks``
table's version: answers record it, and ``--as-of`` and ``answers replay`` check it out
(and the ``files`` table as it was then), read-only, while syncs go on. Each sync that
changed something also appends a row to the ``versions`` table (what changed), which is
what `workbench versions` lists.

``prune`` keeps versions for ``index_history_days`` and every tagged one, and prunes the
oldest untagged ones early when history outgrows ``index_history_budget`` times the size
of the current index: a library that syncs all day stays a small multiple of its own size.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from workbench.core.index.schema import (
    CHUNKS,
    FILES,
    VERSIONS,
    VERSIONS_SCHEMA,
    batched,
    sql_in,
)
from workbench.core.index.store import NEVER
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.index.store import Store
    from workbench.core.index.sync import SyncReport

# Tables that are checked out together; both are tagged together.
VERSIONED = (CHUNKS, FILES)
# History may always take this much, however small the index: a small library keeps its
# whole window of versions (the chunks and files tables together).
HISTORY_FLOOR = 16 * 1024 * 1024
TAG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class IndexVersion:
    """One kept version of the index: `workbench versions`."""

    version: int
    created: datetime
    tags: tuple[str, ...] = ()
    current: bool = False
    synced: bool = False  # a sync ended here (the counts below are known)
    new: int = 0
    changed: int = 0
    deleted: int = 0
    renamed: int = 0
    changes: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created": self.created.isoformat(timespec="seconds"),
            "tags": list(self.tags),
            "current": self.current,
            "files": {
                "new": self.new,
                "changed": self.changed,
                "deleted": self.deleted,
                "renamed": self.renamed,
            }
            if self.synced
            else None,
            "changes": self.changes,
        }


@dataclass(frozen=True)
class AsOf:
    """A past state of the library: the table versions to check out, and what was asked."""

    version: int
    files_version: int
    created: datetime
    asked: str
    tag: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "files_version": self.files_version,
            "created": self.created.isoformat(timespec="seconds"),
            "asked": self.asked,
            "tag": self.tag,
        }

    def describe(self) -> str:
        tag = f"tag {self.tag}, " if self.tag else ""
        return f"the library as of version {self.version} ({tag}{self.created:%Y-%m-%d %H:%M:%S})"

    @property
    def pins(self) -> dict[str, int]:
        return {CHUNKS: self.version, FILES: self.files_version}


# -- recording -------------------------------------------------------------------------------
def record(store: Store, report: SyncReport) -> None:
    """Append what ``report``'s sync changed, at the index version it ended on."""
    if not report.changes:
        return
    hashes = _current_hashes(store, [c["path"] for c in report.changes])
    changes = [change | {"hash": hashes.get(change["path"], "")} for change in report.changes]
    row = {
        "version": store.version(),
        "files_version": int(store.files.version),
        "created": time.time(),
        "new": report.new,
        "changed": report.changed,
        "deleted": report.deleted,
        "renamed": report.renamed,
        "changes": json.dumps(changes, ensure_ascii=False),
    }
    store.table(VERSIONS).add(pa.Table.from_pylist([row], VERSIONS_SCHEMA))


def _current_hashes(store: Store, paths: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in batched(sorted(set(paths))):
        rows = store.files.search().where(sql_in("path", part)).select(["path", "hash"])
        for row in rows.limit(None).to_arrow().to_pylist():
            found[row["path"]] = row["hash"]
    return found


def synced_versions(store: Store) -> list[dict[str, Any]]:
    """The ``versions`` table's rows, oldest first, with ``changes`` parsed."""
    rows = store.table(VERSIONS).to_arrow().to_pylist()
    for row in rows:
        row["changes"] = json.loads(row["changes"] or "[]")
    return sorted(rows, key=lambda row: row["version"])


# -- listing and resolving -----------------------------------------------------------------
def kept(table: Any) -> dict[int, datetime]:
    """The versions of ``table`` still on disk, with when each was made."""
    return {int(v["version"]): _local(v["timestamp"]) for v in table.list_versions()}


def tags(table: Any) -> dict[str, int]:
    return {name: int(info["version"]) for name, info in table.tags.list().items()}


def versions(store: Store, *, every: bool = False) -> list[IndexVersion]:
    """Kept index versions, newest first: those a sync ended on, tagged ones and the current
    one (``every``: each commit LanceDB still keeps as well)."""
    on_disk = kept(store.chunks)
    current = store.version()
    by_tag: dict[int, list[str]] = {}
    for name, version in tags(store.chunks).items():
        by_tag.setdefault(version, []).append(name)
    synced = {row["version"]: row for row in synced_versions(store)}
    listed = sorted(v for v in on_disk if every or v in synced or v in by_tag or v == current)
    result = []
    for version in reversed(listed):
        row = synced.get(version)
        result.append(
            IndexVersion(
                version, on_disk[version], tuple(sorted(by_tag.get(version, []))),
                current=version == current, synced=row is not None,
                new=row["new"] if row else 0, changed=row["changed"] if row else 0,
                deleted=row["deleted"] if row else 0, renamed=row["renamed"] if row else 0,
                changes=_listed(row["changes"]) if row else [],
            )
        )  # fmt: skip
    return result


def _listed(changes: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: c[k] for k in ("path", "action", "from") if k in c} for c in changes]


def resolve(store: Store, asked: str) -> AsOf:
    """The index version ``asked`` names: a version number, a tag, or an ISO time (the
    version current then)."""
    text = asked.strip()
    on_disk = kept(store.chunks)
    chunk_tags = tags(store.chunks)
    if text.isdigit():
        version = int(text)
        if version not in on_disk:
            raise _gone(store, f"Index version {version} is not kept")
        return AsOf(version, _files_version(store, version, on_disk), on_disk[version], text)
    if text in chunk_tags:
        version = chunk_tags[text]
        files_version = tags(store.files).get(text) or _files_version(store, version, on_disk)
        return AsOf(version, files_version, on_disk[version], text, tag=text)
    when = _parse_time(text)
    if when is None:
        raise WorkbenchError(
            f"'{asked}' is not an index version, a tag or a time. Give a version number or "
            "tag from `workbench versions`, or a time such as 2026-11-27T14:30.",
            "Unknown version",
        )
    earlier = [v for v, made in on_disk.items() if made <= when]
    if not earlier:
        raise _gone(store, f"The library kept nothing from {when:%Y-%m-%d %H:%M}")
    version = max(earlier)
    return AsOf(version, _files_version(store, version, on_disk), on_disk[version], text)


def _files_version(store: Store, version: int, on_disk: dict[int, datetime]) -> int:
    """The files table's version that went with index ``version``: recorded for the versions
    a sync ended on, otherwise the last one made before it."""
    for row in synced_versions(store):
        if row["version"] == version and row["files_version"] is not None:
            return int(row["files_version"])
    files = kept(store.files)
    before = [v for v, made in files.items() if made <= on_disk[version]]
    return max(before) if before else min(files)


def _gone(store: Store, what: str) -> WorkbenchError:
    days = store.keep_versions / timedelta(days=1)
    return WorkbenchError(
        f"{what}: old versions are kept {days:g} days (fewer when history outgrows "
        "index_history_budget), and tagged ones until untagged. See `workbench versions`; "
        "`workbench tag NAME` keeps the current one.",
        "Version not kept",
    )


def _parse_time(text: str) -> datetime | None:
    try:
        return _local(datetime.fromisoformat(text))
    except ValueError:
        return None


def _local(moment: datetime) -> datetime:
    """Aware, in local time (LanceDB's timestamps are naive local times)."""
    return moment.astimezone()


# -- tags ----------------------------------------------------------------------------------
def tag(store: Store, name: str, asked: str | None = None) -> AsOf:
    """Pin the index version ``asked`` (default: the current one) as ``name``: it is kept
    past ``index_history_days`` until untagged."""
    if not TAG_NAME.match(name):
        raise WorkbenchError(
            f"'{name}' cannot be a tag: use a letter, then letters, digits, '.', '-' or '_' "
            "(64 at most).",
            "Bad tag name",
        )
    if _parse_time(name) is not None:
        raise WorkbenchError(f"'{name}' reads as a time; choose another name.", "Bad tag name")
    if name in tags(store.chunks):
        raise WorkbenchError(
            f"The tag {name} already exists (version {tags(store.chunks)[name]}). Untag it "
            f"first with `workbench untag {name}`.",
            "Tag exists",
        )
    target = resolve(store, asked) if asked else None
    with store.writing(timeout=30):
        chunks_version = target.version if target else store.version()
        files_version = target.files_version if target else int(store.files.version)
        store.files.tags.create(name, files_version)
        store.chunks.tags.create(name, chunks_version)
    return resolve(store, name)


def untag(store: Store, name: str) -> int:
    """Remove tag ``name``; returns the version it pinned (pruned later like any other)."""
    known = tags(store.chunks)
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise WorkbenchError(f"There is no tag {name}. Tags: {listed}.", "No such tag")
    with store.writing(timeout=30):
        store.chunks.tags.delete(name)
        if name in tags(store.files):
            store.files.tags.delete(name)
    return known[name]


# -- pruning -------------------------------------------------------------------------------
def prune(store: Store) -> None:
    """Drop versions past ``keep_versions`` (tagged ones stay), then the oldest untagged ones
    while history takes more than ``history_budget`` times the current index's size."""
    versioned = [store.table(name) for name in VERSIONED]
    for table in versioned:
        table.to_lance().cleanup_old_versions(
            older_than=store.keep_versions, error_if_tagged_old_versions=False
        )
    within_budget(versioned, store.history_budget)
    # Only a writer (holding the lock) reads the vector cache; the version log is read in a
    # moment: neither keeps old versions. (Compaction rewrote both; the old copies go.)
    store.table(VERSIONS).optimize(cleanup_older_than=NEVER)
    for table in (store.embeddings, store.table(VERSIONS)):
        table.to_lance().cleanup_old_versions(
            older_than=timedelta(0), error_if_tagged_old_versions=False
        )


def within_budget(tables: list[Any], budget: float, floor: int = HISTORY_FLOOR) -> None:
    """Prune the oldest untagged versions of ``tables`` (each keeping half as many as it
    has, then half of that...) until their history fits ``budget`` times their current size
    (``floor`` bytes at least)."""
    retain = {id(table): len(table.list_versions()) for table in tables}
    while True:
        sizes = [footprint(table) for table in tables]
        history, live = sum(t - lv for t, lv in sizes), sum(lv for _t, lv in sizes)
        if history <= max(budget * live, floor) or all(n <= 1 for n in retain.values()):
            return
        for table in tables:
            retain[id(table)] = max(1, retain[id(table)] // 2)
            table.to_lance().cleanup_old_versions(
                older_than=timedelta(0), retain_versions=retain[id(table)],
                error_if_tagged_old_versions=False,
            )  # fmt: skip


def usage(store: Store) -> dict[str, Any]:
    """What history costs on disk now, next to the index itself and the budget."""
    sizes = [footprint(store.table(name)) for name in VERSIONED]
    live = sum(lv for _t, lv in sizes)
    return {
        "history_bytes": sum(t - lv for t, lv in sizes),
        "index_bytes": live,
        "budget_bytes": int(max(store.history_budget * live, HISTORY_FLOOR)),
        "keep_days": store.keep_versions / timedelta(days=1),
    }


def footprint(table: Any) -> tuple[int, int]:
    """(bytes stored, bytes the current version needs): data files, deletion files and
    indexes; the difference is what history costs. One listing, on disk or in a bucket."""
    from workbench.core.index.location import Location

    dataset = table.to_lance()
    stored = dict(Location(dataset.uri, table_storage_options(table)).objects())
    live = sum(
        stored.get(f"data/{f.path}", 0)
        for fragment in dataset.get_fragments()
        for f in fragment.data_files()
    )
    live += sum(int(index.total_size_bytes or 0) for index in dataset.describe_indices())
    return sum(stored.values()), live


def table_storage_options(table: Any) -> dict[str, str]:
    """The storage options a LanceDB table was opened with (none for a local one)."""
    options = getattr(getattr(table, "_conn", None), "storage_options", None)
    return dict(options or {})
