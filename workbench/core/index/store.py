"""The library on disk: LanceDB tables for files, chunks, cached vectors and folders.

Write order is what keeps the index consistent through crashes: a file's chunks are written
before its ``files`` row, so the row is the commit marker. A file whose row is missing or
stale is redone by the next sync, which first deletes every chunk at that path; chunks whose
path has no indexed row are purged (see ``purge_orphans``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from workbench.core import telemetry
from workbench.core.index.integrity import check_tables, salvage_table
from workbench.core.index.location import Location
from workbench.core.index.locks import LockHeld, exclusive_lock
from workbench.core.index.schema import (
    CHUNKS,
    EMBEDDINGS,
    FILES,
    FILES_SCHEMA,
    FOLDERS,
    FOLDERS_SCHEMA,
    SQL_BATCH,
    VERSIONS,
    VERSIONS_SCHEMA,
    FileRecord,
    batched,
    chunks_schema,
    embeddings_schema,
    sql_in,
    sql_str,
)
from workbench.errors import StoreLockedError, WorkbenchError

# Past these, a lazy index refresh (the watcher's, per batch) compacts and re-indexes.
UNINDEXED_ROWS_LIMIT = 2000
SMALL_FRAGMENTS_LIMIT = 64
# Past this many chunks vector search goes through an ANN index: IVF partitions of scalar-
# quantized vectors, re-ranked by exact distance. bench/vector_index.py measured recall@10
# 0.9995 at 100k chunks and 0.996 at 1M (flat: 1.2 s a search there; this: 12 ms), ahead of
# IVF-PQ and IVF-HNSW-SQ at equal speed. Below it a flat scan is exact and fast enough.
VECTOR_INDEX_ROWS = 100_000
# optimize() prunes nothing itself: history.prune does, keeping tagged versions.
NEVER = timedelta(days=365 * 1000)


class Store:
    """LanceDB tables at ``location``; one writer at a time (see ``writing``)."""

    def __init__(
        self,
        location: Location | Path,
        dim: int,
        lock_file: Path | None = None,
        keep_versions: timedelta = timedelta(days=7),
        history_budget: float = 1.0,
        pinned: dict[str, int] | None = None,
    ) -> None:
        self.location = location if isinstance(location, Location) else Location.parse(location)
        self.dim = dim
        self.lock_file = lock_file or default_lock_file(self.location)
        # Older table versions stay readable this long, so a logged answer can be re-run
        # against the index version it was given; compaction prunes what is older.
        self.keep_versions = keep_versions
        self.history_budget = history_budget
        # Table versions this Store reads (a read-only snapshot: `--as-of`, replay).
        self.pinned = dict(pinned or {})
        # Interval 0: every read sees commits made by other processes (watch, ingest).
        self.db = self.location.connect(read_consistency_interval=timedelta(0))
        self._tables: dict[str, Any] = {}
        # Per thread: the watcher and a "Sync now" share one Store in the terminal UI, and
        # only the thread that took the lock may re-enter it.
        self._lock_state = threading.local()

    # -- tables ---------------------------------------------------------------------------
    def table(self, name: str) -> Any:
        if name not in self._tables:
            schema = {
                FILES: FILES_SCHEMA,
                CHUNKS: chunks_schema(self.dim),
                EMBEDDINGS: embeddings_schema(self.dim),
                FOLDERS: FOLDERS_SCHEMA,
                VERSIONS: VERSIONS_SCHEMA,
            }[name]
            table = self._open_or_create(name, schema)
            if name in self.pinned:
                table.checkout(self.pinned[name])
            stored = table.schema.field("vector").type if "vector" in schema.names else None
            if stored is not None and stored != schema.field("vector").type:
                raise WorkbenchError(
                    f"The library at {self.location} holds vectors of another size ({stored}) than "
                    f"the current embedder ({self.dim} dimensions). Switch back to the embedder "
                    "it was built with, or delete the library folder and run `workbench ingest`.",
                    title="Embedder mismatch",
                )
            self._tables[name] = table
        return self._tables[name]

    def _open_or_create(self, name: str, schema: pa.Schema) -> Any:
        """Open table ``name``, adding columns a newer Workbench expects; create it if missing.

        Columns are only ever added (as nulls for old rows), so a library made by an older
        version keeps working and is never rebuilt.
        """
        try:
            table = self.db.open_table(name)
        except ValueError:  # not created yet
            return self.db.create_table(name, schema=schema, exist_ok=True)
        missing = [f for f in schema if f.name not in table.schema.names]
        if missing and not self.pinned:
            with self.writing(timeout=30):
                table.add_columns([pa.field(f.name, f.type) for f in missing])
        return table

    def snapshot(self, versions: dict[str, int]) -> Store:
        """A read-only Store over the given table versions (e.g. ``{"chunks": 12}``)."""
        return Store(
            self.location, self.dim, self.lock_file, self.keep_versions, self.history_budget,
            pinned=versions,
        )  # fmt: skip

    def reload(self) -> None:
        """Drop the open table handles (after a table was written anew, e.g. by forget)."""
        self._tables.clear()

    @property
    def files(self) -> Any:
        return self.table(FILES)

    @property
    def chunks(self) -> Any:
        return self.table(CHUNKS)

    @property
    def embeddings(self) -> Any:
        return self.table(EMBEDDINGS)

    # -- locking ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, timeout: float = 0.0) -> Iterator[None]:
        """Hold the library's write lock; a second writer gets a clear error, not corruption.

        With ``timeout`` > 0, wait up to that many seconds for the other writer to finish its
        batch (a hand-off between `workbench watch` and `workbench ingest`).
        """
        if getattr(self._lock_state, "held", False):  # re-entrant within one thread
            yield
            return
        try:
            with exclusive_lock(self.lock_file, timeout):
                self._lock_state.held = True
                try:
                    yield
                finally:
                    self._lock_state.held = False
        except LockHeld as held:
            raise StoreLockedError(
                f"The library at {self.location} is being written by process {held.holder}. Wait "
                "for it to finish (or stop `workbench watch`), then try again. Searching still "
                "works.",
                title="Library busy",
            ) from None

    # -- folders ----------------------------------------------------------------------------
    def folders(self) -> list[str]:
        table = self.table(FOLDERS).to_arrow()
        return sorted(table.column("path").to_pylist())

    def add_folder(self, path: str, added_at: float) -> bool:
        if path in self.folders():
            return False
        self.table(FOLDERS).add(
            pa.Table.from_pylist([{"path": path, "added_at": added_at}], FOLDERS_SCHEMA)
        )
        return True

    def remove_folder(self, path: str) -> None:
        self.table(FOLDERS).delete(f"path = {sql_str(path)}")

    # -- files --------------------------------------------------------------------------------
    def file_records(self) -> dict[str, FileRecord]:
        table = self.files.to_arrow()
        return {
            row["path"]: FileRecord(**{**row, "meta": row.get("meta") or ""})
            for row in table.to_pylist()
        }

    def upsert_files(self, records: Sequence[FileRecord]) -> None:
        if not records:
            return
        rows = pa.Table.from_pylist([record.__dict__ for record in records], FILES_SCHEMA)
        with lancedb_write("files", "merge_insert", len(records)):
            (
                self.files.merge_insert("path")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(rows)
            )

    def delete_files(self, paths: Sequence[str]) -> int:
        """Delete files' rows and all their chunks; returns the number of chunks deleted."""
        deleted = self.delete_chunks(paths)
        for part in batched(list(paths)):
            with lancedb_write("files", "delete", len(part)):
                self.files.delete(sql_in("path", part))
        return deleted

    # -- chunks -------------------------------------------------------------------------------
    def delete_chunks(self, paths: Sequence[str]) -> int:
        deleted = 0
        for part in batched(list(paths)):
            where = sql_in("path", part)
            count = self.chunks.count_rows(where)
            if count:
                with lancedb_write("chunks", "delete", count):
                    self.chunks.delete(where)
                deleted += count
        return deleted

    def add_chunks(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with lancedb_write("chunks", "add", len(rows)):
                self.chunks.add(pa.Table.from_pylist(rows, chunks_schema(self.dim)))

    def chunk_rows(self, path: str) -> list[dict[str, Any]]:
        where = f"path = {sql_str(path)}"
        rows: list[dict[str, Any]] = (
            self.chunks.search().where(where).limit(None).to_arrow().to_pylist()
        )
        return rows

    def chunk_count(self) -> int:
        return int(self.chunks.count_rows())

    def purge_orphans(self, indexed: dict[str, FileRecord]) -> int:
        """Delete chunks whose file is not indexed with the same content hash.

        Cheap when the counts agree (the normal case); otherwise it reads the path and
        file-hash columns to find the leftovers of an interrupted sync.
        """
        expected = sum(record.chunks for record in indexed.values() if record.status == "indexed")
        if self.chunk_count() == expected:
            return 0
        table = (
            self.chunks.search()
            .select(["id", "path", "file_hash", "ordinal"])
            .limit(None)
            .to_arrow()
        )
        stale_paths = set()
        seen: set[tuple[str, int]] = set()
        duplicated = set()
        for path, file_hash, ordinal in zip(
            table.column("path").to_pylist(),
            table.column("file_hash").to_pylist(),
            table.column("ordinal").to_pylist(),
            strict=True,
        ):
            record = indexed.get(path)
            if record is None or record.status != "indexed" or record.hash != file_hash:
                stale_paths.add(path)
            elif (path, ordinal) in seen:
                duplicated.add(path)
            seen.add((path, ordinal))
        purged = self.delete_chunks(sorted(stale_paths))
        if duplicated:  # cannot happen with the write order above; heal it if it ever does
            purged += self.delete_chunks(sorted(duplicated))
            for part in batched(sorted(duplicated)):
                self.files.delete(sql_in("path", part))
        return purged

    # -- vector cache -------------------------------------------------------------------------
    def cached_keys(self) -> set[str]:
        table = self.embeddings.search().select(["key"]).limit(None).to_arrow()
        return set(table.column("key").to_pylist())

    def cached_vectors(self, keys: Iterable[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for part in batched(sorted(set(keys))):
            table = (
                self.embeddings.search()
                .where(sql_in("key", part))
                .select(["key", "vector"])
                .limit(None)
                .to_arrow()
            )
            found.update(
                zip(
                    table.column("key").to_pylist(), table.column("vector").to_pylist(), strict=True
                )
            )
        return found

    def cache_vectors(self, keys: Sequence[str], vectors: Sequence[Any]) -> None:
        if not keys:
            return
        rows = pa.Table.from_pydict(
            {"key": list(keys), "vector": [list(map(float, v)) for v in vectors]},
            embeddings_schema(self.dim),
        )
        with lancedb_write("embeddings", "merge_insert", len(keys)):
            self.embeddings.merge_insert("key").when_not_matched_insert_all().execute(rows)

    # -- indexes and housekeeping -----------------------------------------------------------
    def refresh_indexes(self, force: bool = True) -> bool:
        """Bring the full-text index up to date and compact small fragments.

        Searches already see rows the index has not absorbed yet (LanceDB scans them flat),
        so with ``force=False`` this only runs once enough has piled up; the watcher uses
        that per batch, and a forced refresh when idle. Returns whether it ran.
        """
        chunks = self.chunks
        names = {index.name for index in chunks.list_indices()}
        if not any("text" in name for name in names):
            return create_indexes(chunks)
        if not any("vector" in name for name in names) and create_vector_index(chunks):
            force = True  # the new index's table is compacted with it
        elif not force and not self._index_lagging(chunks, names):
            return False
        from workbench.core.index.history import prune

        for table in (self.files, chunks, self.embeddings):
            table.optimize(cleanup_older_than=NEVER)
        prune(self)
        return True

    @staticmethod
    def _index_lagging(chunks: Any, names: set[str]) -> bool:
        text_index = next(name for name in names if "text" in name)
        unindexed = chunks.index_stats(text_index).num_unindexed_rows
        small_fragments = chunks.stats()["fragment_stats"]["num_small_fragments"]
        return bool(unindexed >= UNINDEXED_ROWS_LIMIT or small_fragments >= SMALL_FRAGMENTS_LIMIT)

    def version(self) -> int:
        return int(self.chunks.version)

    # -- forgotten paths (core/forgetting.py) -------------------------------------------------
    # Digests of forgotten paths still on disk, which syncs skip (never the paths).
    FORGOTTEN = "_forgotten.json"

    def forgotten(self) -> set[str]:
        try:
            return set(json.loads(self.location.read_bytes(self.FORGOTTEN)))
        except (FileNotFoundError, ValueError):
            return set()  # (an unreachable store raises: syncs must not index forgotten files)

    def set_forgotten(self, digests: set[str]) -> None:
        self.location.write_bytes(self.FORGOTTEN, json.dumps(sorted(digests)).encode())

    # -- damage -----------------------------------------------------------------------------
    def check(self, full: bool = False) -> list[str]:
        """What cannot be read back from disk, one line per table; empty when whole.

        The quick check reads one small column of the tables every command uses, which
        opens every data file (a truncated one fails); ``full`` reads every column of every
        table and queries the full-text index.
        """
        return check_tables(self.db, full)

    def salvage(self, name: str, page: int = 1024) -> tuple[pa.Table | None, int]:
        """The rows of table ``name`` that can still be read, and how many could not."""
        return salvage_table(self.db, name, page)


def create_indexes(chunks: Any) -> bool:
    """The chunks table's full-text and path indexes; False when it has no rows yet."""
    if chunks.count_rows() == 0:
        return False
    from lancedb.index import FTS, BTree

    chunks.create_index("text", config=FTS(with_position=False), replace=True)
    chunks.create_index("path", config=BTree(), replace=True)
    create_vector_index(chunks)
    return True


def default_lock_file(location: Location) -> Path:
    """The writer lock beside a local library; a remote one's lives in the temp folder."""
    local = location.local
    if local is not None:
        return local.parent / "write.lock"
    name = hashlib.sha256(location.uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"workbench-{name}.lock"


def create_vector_index(chunks: Any) -> bool:
    """An IVF-SQ index (sqrt(rows) partitions) on the chunks' vectors once there are
    VECTOR_INDEX_ROWS of them; later rows join it when the table is optimized. Returns
    whether it was built now."""
    rows = chunks.count_rows()
    if rows < VECTOR_INDEX_ROWS:
        return False
    from lancedb.index import IvfSq

    partitions = max(1, round(rows**0.5))
    with telemetry.span("create index vector", {"db.system.name": "lancedb", "rows": rows}):
        chunks.create_index(
            "vector",
            config=IvfSq(distance_type="cosine", num_partitions=partitions),
            replace=True,
        )
    return True


def path_digest(path: str) -> str:
    """How a forgotten path is remembered: its sha256, never the path."""
    return hashlib.sha256(os.fsencode(path)).hexdigest()


# The schema names lived here before the split; importers keep using this module.
__all__ = [
    "CHUNKS",
    "EMBEDDINGS",
    "FILES",
    "FILES_SCHEMA",
    "FOLDERS",
    "FOLDERS_SCHEMA",
    "SMALL_FRAGMENTS_LIMIT",
    "SQL_BATCH",
    "UNINDEXED_ROWS_LIMIT",
    "FileRecord",
    "Store",
    "batched",
    "chunks_schema",
    "embeddings_schema",
    "sql_in",
    "sql_str",
]


@contextlib.contextmanager
def lancedb_write(table: str, operation: str, rows: int) -> Iterator[None]:
    """A ``lancedb {operation} {table}`` span and its duration, around one table write."""
    attributes = {"db.system.name": "lancedb", "db.collection.name": table,
                  "db.operation.name": operation}  # fmt: skip
    watch = telemetry.Stopwatch()
    with telemetry.span(f"{operation} {table}", attributes | {"db.operation.batch.size": rows}):
        yield
    telemetry.WRITE_DURATION.record(watch.seconds, attributes)
