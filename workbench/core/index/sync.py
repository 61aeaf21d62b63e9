"""Incremental sync: bring the index in step with the disk, recomputing only what changed.

scan (stat only) -> read and hash what looks changed -> extract -> chunk -> embed only unseen
chunk hashes -> replace the file's chunks, then write its ``files`` row (the commit marker).
Renamed or moved files keep their vectors; deleted files are purged.

This module scans and plans; ``preparing`` reads and extracts one file, and ``batching``
embeds and commits. Path scope helpers live in ``scope`` and are re-exported here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from workbench.config import Settings
from workbench.core import telemetry
from workbench.core.extraction.registry import ExtractorRegistry
from workbench.core.index import history
from workbench.core.index.batching import (
    BATCH_CHUNKS,
    BATCH_FILES,
    EMBED_GROUP_MAX,
    EMBED_GROUP_MIN,
    EMBED_GROUP_S,
    Batch,
    BatchWriter,
    chunk_id,
)
from workbench.core.index.engines import LocalEngine, RayEngine
from workbench.core.index.preparing import FilePreparer
from workbench.core.index.scanning import IgnoreRules, LinkPolicy, ScanEntry, scan_file, scan_folder
from workbench.core.index.scope import in_scope, minimal_scope, under
from workbench.core.index.store import FileRecord, Store, path_digest


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
    missing_folders: list[str] = field(default_factory=list)  # library folders not on disk

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
        self.preparer = FilePreparer(store, registry, embedder, settings)
        self.writer = BatchWriter(store, embedder, settings)

    def sync(
        self,
        folders: Sequence[str],
        scope: Sequence[str] | None = None,
        *,
        on_progress: Callable[[SyncProgress], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
        lock_timeout: float = 0.0,
        optimize: bool = True,
        engine: LocalEngine | RayEngine | None = None,
    ) -> SyncReport:
        """Sync ``scope`` (files or folders inside ``folders``; all of ``folders`` when None).

        A path in ``scope`` that no longer exists has its index rows purged, so a watcher can
        pass the paths its events named, whatever happened to them. ``optimize=False`` leaves
        index compaction for later unless a lot has piled up (searches see new rows anyway).
        ``engine`` reads, extracts and embeds the changed files (``engines``; here by default).
        """
        targets = minimal_scope(scope if scope else folders)
        engine = engine or LocalEngine()
        attributes = {"workbench.sync.targets": len(targets), "workbench.sync.engine": engine.name}
        with telemetry.span("sync", attributes) as current:
            telemetry.content(current, "workbench.sync.scope", list(targets))
            self.writer.embed_elsewhere = engine.embed
            try:
                report = self._sync(folders, targets, on_progress, should_stop, lock_timeout,
                                    optimize, engine)  # fmt: skip
            finally:
                self.writer.embed_elsewhere = None
            observed(current, report)
        return report

    def _sync(
        self,
        folders: Sequence[str],
        targets: list[str],
        on_progress: Callable[[SyncProgress], None],
        should_stop: Callable[[], bool],
        lock_timeout: float,
        optimize: bool,
        engine: LocalEngine | RayEngine,
    ) -> SyncReport:
        started = time.perf_counter()
        began = self.clock()
        report = SyncReport()
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
            todo = self._changed(seen, records, report)
            with self.writer.yielding(should_stop):  # answers and searches go first
                self._index(todo, records, gone, report, on_progress, should_stop, began, engine)
                self._purge_gone(gone, report)
                if report.changes:
                    on_progress(SyncProgress("finish", len(todo), len(todo)))
                    self.writer.pause()
                    with telemetry.span("refresh indexes", {"workbench.forced": optimize}):
                        self.store.refresh_indexes(force=optimize)
                    history.record(self.store, report)
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
        forgotten = self.store.forgotten()  # `workbench forget`: not indexed again
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
                if entry is not None and not (forgotten and path_digest(target) in forgotten):
                    seen[target] = entry
                continue
            for entry in scan_folder(
                target,
                self.rules,
                links=links,
                should_stop=should_stop,
                specs=self.rules.specs_above(folder, target),
            ):
                if forgotten and path_digest(entry.path) in forgotten:
                    continue
                seen[entry.path] = replace(entry, folder=folder)
                if len(seen) % 1000 == 0:
                    on_progress(SyncProgress("scan", len(seen), 0, entry.path))
        return seen

    def _changed(
        self, seen: dict[str, ScanEntry], records: dict[str, FileRecord], report: SyncReport
    ) -> list[ScanEntry]:
        """The scanned entries whose stat (or extractor, or embedder) differs from the index."""
        todo = []
        for entry in seen.values():
            record = records.get(entry.path)
            if record is not None and self.is_current(record, entry):
                report.unchanged += 1
            else:
                todo.append(entry)
        return todo

    def is_current(self, record: FileRecord, entry: ScanEntry) -> bool:
        """Whether ``record`` still describes the file scanned as ``entry``: same size and
        mtime, made by today's extractor and embedder. A sync skips such files."""
        if entry.problem:  # a broken link or loop stays reported once, not on every sync
            return record.status == "skipped" and record.reason == entry.problem
        return (
            record.size == entry.size
            and record.mtime_ns == entry.mtime_ns
            and entry.problem is None
            and self.preparer.current(record)
        )

    def _purge_gone(self, gone: dict[str, FileRecord], report: SyncReport) -> None:
        """Delete the rows of files that left the scope (renamed ones: their old path only)."""
        if report.interrupted:  # renames that committed still drop their old path
            gone = {p: gone[p] for p in report.renamed_from}
        # A library folder that vanished (unmounted, deleted) keeps its index until it is
        # removed from the library; it is reconciled when it comes back.
        gone = {p: r for p, r in gone.items() if os.path.isdir(r.folder)}
        if not gone:
            return
        report.deleted += len(gone) - len(report.renamed_from)
        report.chunks_deleted += self.store.delete_files(sorted(gone))
        report.changes.extend(
            {"path": p, "action": "deleted"} for p in sorted(gone) if p not in report.renamed_from
        )

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
        engine: LocalEngine | RayEngine,
    ) -> None:
        """Prepare each file, embedding as it goes, and commit at least every
        ``flush_seconds``: a file finished more than that ago has been committed, so a kill
        loses at most the last few seconds of work."""
        gone_by_hash = {r.hash: p for p, r in gone.items() if r.status == "indexed"}
        batch = Batch()
        flushed_at = started
        ahead = engine.extracted(todo, self.preparer.needs_reading)
        for done, (entry, extracted) in enumerate(ahead):
            self.writer.pause()
            if should_stop():
                report.interrupted = True
                break
            on_progress(SyncProgress("index", done, len(todo), entry.path))
            prepared = self.preparer.prepare(
                entry, records.get(entry.path), gone_by_hash, gone, report, extracted
            )
            if prepared is None:
                continue
            batch.add(prepared)
            if len(batch.unembedded) >= self.writer.embed_group():
                self.writer.embed(batch, report)
            if batch.full() or self.clock() - flushed_at >= self.flush_seconds:
                self.writer.flush(batch, report)
                batch = Batch()
                flushed_at = self.clock()
        self.writer.flush(batch, report)
        if not report.interrupted:
            on_progress(SyncProgress("index", len(todo), len(todo)))


def observed(current: Any, report: SyncReport) -> None:
    """A sync's outcome on its span and in the sync metrics."""
    outcomes = report.as_json()
    for outcome, count in outcomes["files"].items():
        if count:
            telemetry.SYNC_FILES.add(count, {"workbench.outcome": outcome})
    for outcome, count in outcomes["chunks"].items():
        if count:
            telemetry.SYNC_CHUNKS.add(count, {"workbench.outcome": outcome})
    interrupted = {"workbench.sync.interrupted": report.interrupted}
    telemetry.SYNC_DURATION.record(report.seconds, interrupted)
    if current.is_recording():
        current.set_attributes(interrupted | {
            f"workbench.sync.{group}.{outcome}": count
            for group in ("files", "chunks") for outcome, count in outcomes[group].items()
        })  # fmt: skip


# Names that lived here before the scan/commit split; importers keep using this module.
__all__ = [
    "BATCH_CHUNKS",
    "BATCH_FILES",
    "EMBED_GROUP_MAX",
    "EMBED_GROUP_MIN",
    "EMBED_GROUP_S",
    "SyncProgress",
    "SyncReport",
    "Syncer",
    "asdict",
    "chunk_id",
    "in_scope",
    "minimal_scope",
    "under",
]
