"""Incremental sync: bring the index in step with the disk, recomputing only what changed.

scan (stat only) -> read and hash what looks changed -> extract -> chunk -> embed only unseen
chunk hashes -> replace the file's chunks, then write its ``files`` row (the commit marker).
Renamed or moved files keep their vectors; deleted files are purged.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.core.extraction.documents import ExtractionError, SkipFile
from workbench.core.extraction.registry import ExtractorRegistry
from workbench.core.index.chunking import Chunk, chunk_blocks, text_hash
from workbench.core.index.scanning import IgnoreRules, LinkPolicy, ScanEntry, scan_file, scan_folder
from workbench.core.index.store import FileRecord, Store

BATCH_CHUNKS = 256
BATCH_FILES = 500
# Chunks are embedded in groups as files are prepared, so a commit that is due has little
# left to embed and lands on time: a group is what the embedder does in EMBED_GROUP_S at its
# measured speed (long chunks embed at ~14/s on 2 cores, short ones at ~140/s), within these
# bounds. Bigger groups pad less, so throughput stays that of one big batch.
EMBED_GROUP_S = 3.0
EMBED_GROUP_MIN, EMBED_GROUP_MAX = 32, 256


@dataclass
class SyncProgress:
    """Reported to ``on_progress`` as the sync goes."""

    phase: str  # "scan", "index", "finish"
    done: int
    total: int
    path: str = ""


@dataclass
class SyncReport:
    """What one sync did; ``as_json`` is the `workbench ingest --json` contract."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    renamed: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    embedded: int = 0
    reused: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    problems: list[dict[str, str]] = field(default_factory=list)
    changes: list[dict[str, str]] = field(default_factory=list)
    renamed_from: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "files": {
                "new": self.new,
                "changed": self.changed,
                "unchanged": self.unchanged,
                "renamed": self.renamed,
                "deleted": self.deleted,
                "failed": self.failed,
                "skipped": self.skipped,
            },
            "chunks": {
                "embedded": self.embedded,
                "reused": self.reused,
                "deleted": self.chunks_deleted,
            },
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "problems": self.problems,
        }


@dataclass
class _Prepared:
    record: FileRecord
    chunks: list[Chunk] = field(default_factory=list)
    copied_rows: list[dict[str, Any]] = field(default_factory=list)


def under(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or lies below one."""
    return in_scope(path.rstrip(os.sep) or os.sep, {r.rstrip(os.sep) or os.sep for r in roots})


def in_scope(path: str, targets: set[str]) -> bool:
    """Whether ``path`` is one of ``targets`` or lies below one (walks up, no string scans)."""
    while True:
        if path in targets:
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


def minimal_scope(paths: Sequence[str]) -> list[str]:
    """``paths`` without those inside another of them (a folder covers its files)."""
    unique = set(paths)
    return sorted(
        p for p in unique if os.path.dirname(p) == p or not in_scope(os.path.dirname(p), unique)
    )


def chunk_id(path: str, ordinal: int) -> str:
    return hashlib.sha1(f"{path}\0{ordinal}".encode()).hexdigest()[:24]


class Syncer:
    """Runs incremental syncs of registered folders into a Store."""

    # Slow extraction (OCR, transcription) commits at least this often, so an interrupted
    # sync keeps the files it finished.
    flush_seconds = 5.0
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self, store: Store, registry: ExtractorRegistry, embedder: Any, settings: Settings
    ) -> None:
        self.store = store
        self.registry = registry
        self.embedder = embedder
        self.settings = settings
        self.rules = IgnoreRules(settings.ignore)
        self._cached_keys: set[str] | None = None
        self._embed_rate = 0.0  # chunks per second, measured on this process's embed calls

    def sync(
        self,
        folders: Sequence[str],
        scope: Sequence[str] | None = None,
        *,
        on_progress: Callable[[SyncProgress], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
        lock_timeout: float = 0.0,
        optimize: bool = True,
    ) -> SyncReport:
        """Sync ``scope`` (files or folders inside ``folders``; all of ``folders`` when None).

        A path in ``scope`` that no longer exists has its index rows purged, so a watcher can
        pass the paths its events named, whatever happened to them. ``optimize=False`` leaves
        index compaction for later unless a lot has piled up (searches see new rows anyway).
        """
        started = time.perf_counter()
        began = self.clock()
        report = SyncReport()
        targets = minimal_scope(scope if scope else folders)
        self.rules.refresh()
        with self.store.writing(timeout=lock_timeout):
            records = self.store.file_records()
            if self.store.purge_orphans(records):  # leftovers of an interrupted writer
                records = self.store.file_records()
            seen = self._scan(folders, targets, on_progress, should_stop)
            if should_stop():
                report.interrupted = True
                report.seconds = time.perf_counter() - started
                return report
            target_set = set(targets)
            gone = {p: r for p, r in records.items() if p not in seen and in_scope(p, target_set)}
            todo = []
            for entry in seen.values():
                record = records.get(entry.path)
                if record is not None and self._unchanged_stat(record, entry):
                    report.unchanged += 1
                else:
                    todo.append(entry)
            self._index(todo, records, gone, report, on_progress, should_stop, began)
            if report.interrupted:  # renames that committed still drop their old path
                gone = {p: gone[p] for p in report.renamed_from}
            # A library folder that vanished (unmounted, deleted) keeps its index until it is
            # removed from the library; it is reconciled when it comes back.
            gone = {p: r for p, r in gone.items() if os.path.isdir(r.folder)}
            if gone:
                report.deleted += len(gone) - len(report.renamed_from)
                report.chunks_deleted += self.store.delete_files(sorted(gone))
                report.changes.extend(
                    {"path": p, "action": "deleted"}
                    for p in sorted(gone)
                    if p not in report.renamed_from
                )
            if report.changes:
                on_progress(SyncProgress("finish", len(todo), len(todo)))
                self.store.refresh_indexes(force=optimize)
        report.seconds = time.perf_counter() - started
        return report

    # -- scan --------------------------------------------------------------------------------
    def _scan(
        self,
        folders: Sequence[str],
        targets: Sequence[str],
        on_progress: Callable[[SyncProgress], None],
        should_stop: Callable[[], bool],
    ) -> dict[str, ScanEntry]:
        seen: dict[str, ScanEntry] = {}
        links = LinkPolicy.for_folders(
            folders, self.settings.allow_link_targets, self.settings.follow_symlinks
        )
        for target in targets:
            folder = next((f for f in folders if under(target, [f])), None)
            if folder is None or not os.path.lexists(target):
                continue  # outside the library, or gone: its rows (if any) are purged
            is_dir = os.path.isdir(target)
            if target != folder and self.rules.ignored(target, folder, is_dir):
                continue
            if not is_dir:
                entry = scan_file(target, folder, links=links)
                if entry is not None:
                    seen[target] = entry
                continue
            for entry in scan_folder(
                target,
                self.rules,
                links=links,
                should_stop=should_stop,
                specs=self.rules.specs_above(folder, target),
            ):
                seen[entry.path] = replace(entry, folder=folder)
                if len(seen) % 1000 == 0:
                    on_progress(SyncProgress("scan", len(seen), 0, entry.path))
        return seen

    def _unchanged_stat(self, record: FileRecord, entry: ScanEntry) -> bool:
        if entry.problem:  # a broken link or loop stays reported once, not on every sync
            return record.status == "skipped" and record.reason == entry.problem
        return (
            record.size == entry.size
            and record.mtime_ns == entry.mtime_ns
            and entry.problem is None
            and self._current(record)
        )

    def _current(self, record: FileRecord) -> bool:
        """Whether a record was made by today's extractor (and embedder, if indexed)."""
        extractor, _ = self.registry.for_path(record.path)
        if extractor is None:
            return record.extractor == ""
        if (record.extractor, record.extractor_version) != (extractor.name, extractor.version):
            return False
        return record.status != "indexed" or record.embedder == self.embedder.id

    # -- index -------------------------------------------------------------------------------
    def _index(
        self,
        todo: list[ScanEntry],
        records: dict[str, FileRecord],
        gone: dict[str, FileRecord],
        report: SyncReport,
        on_progress: Callable[[SyncProgress], None],
        should_stop: Callable[[], bool],
        started: float,
    ) -> None:
        """Prepare each file, embedding as it goes, and commit at least every
        ``flush_seconds``: a file finished more than that ago has been committed, so a kill
        loses at most the last few seconds of work."""
        gone_by_hash = {r.hash: p for p, r in gone.items() if r.status == "indexed"}
        batch = _Batch()
        flushed_at = started
        for done, entry in enumerate(todo):
            if should_stop():
                report.interrupted = True
                break
            on_progress(SyncProgress("index", done, len(todo), entry.path))
            prepared = self._prepare(entry, records.get(entry.path), gone_by_hash, gone, report)
            if prepared is None:
                continue
            batch.add(prepared)
            if len(batch.unembedded) >= self._embed_group():
                self._embed(batch, report)
            if (
                batch.chunk_count() >= BATCH_CHUNKS
                or len(batch.files) >= BATCH_FILES
                or self.clock() - flushed_at >= self.flush_seconds
            ):
                self._flush(batch, report)
                batch = _Batch()
                flushed_at = self.clock()
        self._flush(batch, report)
        if not report.interrupted:
            on_progress(SyncProgress("index", len(todo), len(todo)))

    def _prepare(
        self,
        entry: ScanEntry,
        previous: FileRecord | None,
        gone_by_hash: dict[str, str],
        gone: dict[str, FileRecord],
        report: SyncReport,
    ) -> _Prepared | None:
        record = FileRecord(
            path=entry.path, folder=entry.folder, size=entry.size, mtime_ns=entry.mtime_ns,
            hash="", kind=_kind_of(entry.path), extractor="", extractor_version="",
            embedder=self.embedder.id, status="skipped", reason="", chunks=0,
            indexed_at=time.time(),
        )  # fmt: skip
        if entry.problem:
            return self._not_indexed(record, "skipped", entry.problem, report)
        extractor, reason = self.registry.for_path(entry.path)
        if extractor is None:
            return self._not_indexed(record, "skipped", reason or "no extractor", report)
        record = replace(record, extractor=extractor.name, extractor_version=extractor.version)
        if entry.size == 0:
            return self._not_indexed(record, "skipped", "empty file (0 bytes)", report)
        if entry.size > self.settings.max_file_bytes:
            return self._not_indexed(
                record, "skipped",
                f"too large ({entry.size / 2**20:.1f} MiB > max_file_mb = "
                f"{self.settings.max_file_mb:g}); raise max_file_mb in config.toml to index it",
                report,
            )  # fmt: skip
        try:
            data = Path(entry.path).read_bytes()
        except FileNotFoundError:
            return None  # vanished after the scan: the next sync sees it gone
        except OSError as exc:
            reason = f"cannot read: {exc.strerror or exc}"
            return self._not_indexed(record, "failed", reason, report)
        content_hash = hashlib.sha256(data).hexdigest()
        record = replace(record, hash=content_hash, size=len(data))
        if previous is not None and previous.hash == content_hash and self._current(previous):
            report.unchanged += 1  # touched, not changed: remember the new mtime only
            return _Prepared(replace(previous, mtime_ns=entry.mtime_ns, size=len(data)))
        old_path = gone_by_hash.pop(content_hash, None)
        if old_path is not None and previous is None and self._current(gone[old_path]):
            return self._renamed(record, gone[old_path], report)
        try:
            extraction = extractor.extract(Path(entry.path), data)
        except SkipFile as exc:
            return self._not_indexed(record, "skipped", str(exc), report)
        except ExtractionError as exc:
            return self._not_indexed(record, "failed", str(exc), report)
        except Exception as exc:  # an extractor bug must not stop the sync: record it
            reason = f"{extractor.name} extractor error: {type(exc).__name__}: {exc}"
            return self._not_indexed(record, "failed", reason, report)
        chunks = chunk_blocks(extraction.blocks, self.embedder, self.settings.chunk_tokens)
        if not chunks:
            return self._not_indexed(record, "skipped", "no text found in the file", report)
        if previous is None:
            report.new += 1
        else:
            report.changed += 1
        report.changes.append(
            {"path": entry.path, "action": "new" if previous is None else "changed"}
        )
        meta = json.dumps(extraction.metadata, separators=(",", ":"), default=str)
        record = replace(
            record, kind=extraction.kind, status="indexed", chunks=len(chunks), meta=meta
        )
        return _Prepared(record, chunks)

    def _renamed(self, record: FileRecord, old: FileRecord, report: SyncReport) -> _Prepared:
        rows = self.store.chunk_rows(old.path)
        for row in rows:
            row["path"] = record.path
            row["id"] = chunk_id(record.path, row["ordinal"])
        report.renamed += 1
        report.reused += len(rows)
        report.changes.append({"path": record.path, "action": "renamed", "from": old.path})
        new_record = replace(
            old, path=record.path, folder=record.folder, mtime_ns=record.mtime_ns,
            chunks=len(rows), indexed_at=time.time(),
        )  # fmt: skip
        # The old path's rows are deleted with the other gone files, after this commit.
        report.renamed_from.append(old.path)
        return _Prepared(new_record, copied_rows=rows)

    def _not_indexed(
        self, record: FileRecord, status: str, reason: str, report: SyncReport
    ) -> _Prepared:
        if status == "failed":
            report.failed += 1
        else:
            report.skipped += 1
        report.problems.append({"path": record.path, "status": status, "reason": reason})
        report.changes.append({"path": record.path, "action": status, "reason": reason})
        return _Prepared(replace(record, status=status, reason=reason, chunks=0))

    def _embed_group(self) -> int:
        """How many chunks to embed at once: about EMBED_GROUP_S of work."""
        wanted = int(self._embed_rate * EMBED_GROUP_S)
        return min(EMBED_GROUP_MAX, max(EMBED_GROUP_MIN, wanted))

    def _embed(self, batch: _Batch, report: SyncReport) -> None:
        """Vectors for the chunks added to the batch since the last call."""
        texts = [chunk.text for chunk in batch.unembedded]
        fresh = [text for text in texts if text_hash(text) not in batch.vectors]
        report.reused += len(texts) - len(fresh)
        batch.vectors.update(self._vectors(fresh, report, batch))
        batch.unembedded = []

    def _flush(self, batch: _Batch, report: SyncReport) -> None:
        if not batch.files:
            return
        self._embed(batch, report)
        rows: list[dict[str, Any]] = []
        for prepared in batch.files:
            record = prepared.record
            rows.extend(prepared.copied_rows)
            for chunk in prepared.chunks:
                rows.append(
                    {
                        "id": chunk_id(record.path, chunk.ordinal),
                        "path": record.path,
                        "ordinal": chunk.ordinal,
                        "text": chunk.text,
                        "text_hash": chunk.text_hash,
                        "vector": batch.vectors[chunk.text_hash],
                        "kind": record.kind,
                        "locator": json.dumps(chunk.locator, separators=(",", ":")),
                        "embedder": self.embedder.id,
                        "file_hash": record.hash,
                    }
                )
        # Order matters for crash safety: chunks first, then the files rows (commit marker).
        touched = [
            p.record.path
            for p in batch.files
            if p.chunks or p.copied_rows or p.record.status != "indexed"
        ]
        if batch.uncached:
            prefix = f"{self.embedder.id}:"
            keys = list(batch.uncached)
            self.store.cache_vectors([prefix + k for k in keys], list(batch.uncached.values()))
            if self._cached_keys is not None:
                self._cached_keys.update(prefix + k for k in keys)
        report.chunks_deleted += self.store.delete_chunks(touched)
        self.store.add_chunks(rows)
        self.store.upsert_files([p.record for p in batch.files])

    def _vectors(self, texts: list[str], report: SyncReport, batch: _Batch) -> dict[str, Any]:
        """Vectors by text hash: from the cache where seen before, embedded otherwise (new
        vectors join the cache when the batch is committed)."""
        by_hash = {text_hash(text): text for text in texts}
        prefix = f"{self.embedder.id}:"
        if self._cached_keys is None:
            self._cached_keys = self.store.cached_keys()
        hits = [h for h in by_hash if prefix + h in self._cached_keys]
        vectors: dict[str, Any] = {}
        if hits:
            cached = self.store.cached_vectors(prefix + h for h in hits)
            vectors.update({key[len(prefix) :]: vector for key, vector in cached.items()})
        missing = [h for h in by_hash if h not in vectors]
        if missing:
            began = time.perf_counter()
            embedded = self.embedder.embed(
                [by_hash[h] for h in missing], batch_size=self.settings.embed_batch_size
            )
            rate = len(missing) / max(time.perf_counter() - began, 1e-6)
            self._embed_rate = rate if not self._embed_rate else 0.5 * (self._embed_rate + rate)
            fresh = dict(zip(missing, embedded.tolist(), strict=True))
            vectors.update(fresh)
            batch.uncached.update(fresh)
        report.embedded += len(missing)
        report.reused += len(texts) - len(missing)
        return vectors


@dataclass
class _Batch:
    """Files prepared since the last commit, and the vectors of their chunks so far."""

    files: list[_Prepared] = field(default_factory=list)
    vectors: dict[str, Any] = field(default_factory=dict)
    uncached: dict[str, Any] = field(default_factory=dict)  # embedded now, not yet cached
    unembedded: list[Chunk] = field(default_factory=list)

    def add(self, prepared: _Prepared) -> None:
        self.files.append(prepared)
        self.unembedded.extend(prepared.chunks)

    def chunk_count(self) -> int:
        return sum(len(p.chunks) for p in self.files)


def _kind_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return suffix[1:] if suffix else "file"


__all__ = ["SyncProgress", "SyncReport", "Syncer", "asdict"]
