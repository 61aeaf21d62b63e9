"""The middle step of a sync: turn one scanned file into what gets committed.

Read and hash the file; keep its record when only its mtime moved; reuse an identical file's
chunks when it was renamed; otherwise extract and chunk it. A file that cannot be indexed
gets a record saying why (skipped or failed), so it is reported once, not retried forever.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.core import telemetry
from workbench.core.extraction.documents import ExtractionError, SkipFile
from workbench.core.extraction.registry import ExtractorRegistry
from workbench.core.index.batching import Prepared, chunk_id
from workbench.core.index.chunking import chunk_blocks
from workbench.core.index.scanning import ScanEntry
from workbench.core.index.store import FileRecord, Store

if TYPE_CHECKING:  # sync imports this module; the report is only counted here
    from workbench.core.index.sync import SyncReport


class FilePreparer:
    """Prepares files for a Syncer: read, hash, extract and chunk, or record why not."""

    def __init__(
        self, store: Store, registry: ExtractorRegistry, embedder: Any, settings: Settings
    ) -> None:
        self.store = store
        self.registry = registry
        self.embedder = embedder
        self.settings = settings

    def current(self, record: FileRecord) -> bool:
        """Whether a record was made by today's extractor (and embedder, if indexed)."""
        extractor, _ = self.registry.for_path(record.path)
        if extractor is None:
            return record.extractor == ""
        if (record.extractor, record.extractor_version) != (extractor.name, extractor.version):
            return False
        return record.status != "indexed" or record.embedder == self.embedder.id

    def prepare(
        self,
        entry: ScanEntry,
        previous: FileRecord | None,
        gone_by_hash: dict[str, str],
        gone: dict[str, FileRecord],
        report: SyncReport,
    ) -> Prepared | None:
        """Read, hash and extract one file; None when it vanished since the scan."""
        record = self._blank_record(entry)
        if entry.problem:
            return self._not_indexed(record, "skipped", entry.problem, report)
        extractor, reason = self.registry.for_path(entry.path)
        if extractor is None:
            return self._not_indexed(record, "skipped", reason or "no extractor", report)
        record = replace(record, extractor=extractor.name, extractor_version=extractor.version)
        size_problem = self._size_problem(entry.size)
        if size_problem:
            return self._not_indexed(record, "skipped", size_problem, report)
        try:
            data = Path(entry.path).read_bytes()
        except FileNotFoundError:
            return None  # vanished after the scan: the next sync sees it gone
        except OSError as exc:
            reason = f"cannot read: {exc.strerror or exc}"
            return self._not_indexed(record, "failed", reason, report)
        content_hash = hashlib.sha256(data).hexdigest()
        record = replace(record, hash=content_hash, size=len(data))
        if previous is not None and previous.hash == content_hash and self.current(previous):
            report.unchanged += 1  # touched, not changed: remember the new mtime only
            return Prepared(replace(previous, mtime_ns=entry.mtime_ns, size=len(data)))
        old_path = gone_by_hash.pop(content_hash, None)
        if old_path is not None and previous is None and self.current(gone[old_path]):
            return self._renamed(record, gone[old_path], report)
        return self._extracted(record, extractor, data, previous is None, report)

    def _blank_record(self, entry: ScanEntry) -> FileRecord:
        """The record of a file not (yet) indexed, from its scan entry alone."""
        return FileRecord(
            path=entry.path, folder=entry.folder, size=entry.size, mtime_ns=entry.mtime_ns,
            hash="", kind=_kind_of(entry.path), extractor="", extractor_version="",
            embedder=self.embedder.id, status="skipped", reason="", chunks=0,
            indexed_at=time.time(),
        )  # fmt: skip

    def _size_problem(self, size: int) -> str | None:
        """Why a file of ``size`` bytes is not read at all, or None."""
        if size == 0:
            return "empty file (0 bytes)"
        if size > self.settings.max_file_bytes:
            return (
                f"too large ({size / 2**20:.1f} MiB > max_file_mb = "
                f"{self.settings.max_file_mb:g}); raise max_file_mb in config.toml to index it"
            )
        return None

    def _extracted(
        self, record: FileRecord, extractor: Any, data: bytes, is_new: bool, report: SyncReport
    ) -> Prepared:
        """Extract and chunk a new or changed file's ``data`` (an ``extract`` span)."""
        attributes = {"workbench.file.kind": record.kind, "workbench.extractor": extractor.name,
                      "workbench.file.bytes": len(data)}  # fmt: skip
        watch = telemetry.Stopwatch()
        with telemetry.span(f"extract {record.kind}", attributes) as current:
            telemetry.content(current, "workbench.file.path", record.path)
            prepared = self._extract(record, extractor, data, is_new, report)
            outcome = prepared.record.status
            if current.is_recording():
                current.set_attributes({"workbench.outcome": outcome,
                                        "workbench.chunks": len(prepared.chunks)})  # fmt: skip
        labels = {"workbench.file.kind": record.kind, "workbench.outcome": outcome}
        telemetry.EXTRACT_DURATION.record(watch.seconds, labels)
        return prepared

    def _extract(
        self, record: FileRecord, extractor: Any, data: bytes, is_new: bool, report: SyncReport
    ) -> Prepared:
        try:
            extraction = extractor.extract(Path(record.path), data)
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
        if is_new:
            report.new += 1
        else:
            report.changed += 1
        report.changes.append({"path": record.path, "action": "new" if is_new else "changed"})
        meta = json.dumps(extraction.metadata, separators=(",", ":"), default=str)
        record = replace(
            record, kind=extraction.kind, status="indexed", chunks=len(chunks), meta=meta
        )
        return Prepared(record, chunks)

    def _renamed(self, record: FileRecord, old: FileRecord, report: SyncReport) -> Prepared:
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
        return Prepared(new_record, copied_rows=rows)

    def _not_indexed(
        self, record: FileRecord, status: str, reason: str, report: SyncReport
    ) -> Prepared:
        if status == "failed":
            report.failed += 1
        else:
            report.skipped += 1
        report.problems.append({"path": record.path, "status": status, "reason": reason})
        report.changes.append({"path": record.path, "action": status, "reason": reason})
        return Prepared(replace(record, status=status, reason=reason, chunks=0))


def _kind_of(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return suffix[1:] if suffix else "file"
