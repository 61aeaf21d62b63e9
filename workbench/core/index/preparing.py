"""The middle step of a sync: turn one scanned file into what gets committed.

Read and hash the file; keep its record when only its mtime moved; reuse an identical file's
chunks when it was renamed; otherwise extract and chunk it. A file that cannot be indexed
gets a record saying why (skipped or failed), so it is reported once, not retried forever.

Reading and extracting are the expensive part, and the part a sync engine may run elsewhere
(``engines``): ``read_and_extract`` gives an ``Extracted`` that ``prepare`` takes instead of
doing the work itself; every decision (unchanged, renamed, new, changed) stays here.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.core import telemetry
from workbench.core.extraction.documents import ExtractionError, SkipFile
from workbench.core.extraction.registry import ExtractorRegistry
from workbench.core.index.batching import Prepared, chunk_id
from workbench.core.index.chunking import Chunk, chunk_blocks
from workbench.core.index.scanning import ScanEntry
from workbench.core.index.store import FileRecord, Store

if TYPE_CHECKING:  # sync imports this module; the report is only counted here
    from workbench.core.index.sync import SyncReport


@dataclass
class Extracted:
    """What reading one file and extracting it gave, wherever that ran."""

    hash: str = ""  # empty: the file could not be read (``reason``) or vanished
    size: int = 0
    status: str = "indexed"  # or "failed", "skipped"; "gone" when it vanished
    reason: str = ""
    kind: str = ""
    chunks: list[Chunk] = field(default_factory=list)
    meta: str = ""


def read_file(path: str) -> tuple[bytes | None, Extracted]:
    """The file's bytes and hash; None and why when it cannot be read (or is gone)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, Extracted(status="gone")  # vanished after the scan
    except OSError as exc:
        return None, Extracted(status="failed", reason=f"cannot read: {exc.strerror or exc}")
    return data, Extracted(hash=hashlib.sha256(data).hexdigest(), size=len(data))


def extract_chunks(
    path: str, data: bytes, extractor: Any, embedder: Any, chunk_tokens: int
) -> Extracted:
    """Extract and chunk a file's ``data``: its kind, chunks and metadata, or why not."""
    try:
        extraction = extractor.extract(Path(path), data)
    except SkipFile as exc:
        return Extracted(status="skipped", reason=str(exc))
    except ExtractionError as exc:
        return Extracted(status="failed", reason=str(exc))
    except Exception as exc:  # an extractor bug must not stop the sync: record it
        reason = f"{extractor.name} extractor error: {type(exc).__name__}: {exc}"
        return Extracted(status="failed", reason=reason)
    chunks = chunk_blocks(extraction.blocks, embedder, chunk_tokens)
    if not chunks:
        return Extracted(status="skipped", reason="no text found in the file")
    meta = json.dumps(extraction.metadata, separators=(",", ":"), default=str)
    return Extracted(kind=extraction.kind, chunks=chunks, meta=meta)


def read_and_extract(path: str, extractor: Any, embedder: Any, chunk_tokens: int) -> Extracted:
    """Both steps at once (an engine that extracts ahead of the decisions)."""
    data, read = read_file(path)
    if data is None:
        return read
    extracted = extract_chunks(path, data, extractor, embedder, chunk_tokens)
    return replace(extracted, hash=read.hash, size=read.size)


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

    def needs_reading(self, entry: ScanEntry) -> bool:
        """Whether ``prepare`` would read the file (not skipped by a rule before that)."""
        if entry.problem or self._size_problem(entry.size):
            return False
        return self.registry.for_path(entry.path)[0] is not None

    def prepare(
        self,
        entry: ScanEntry,
        previous: FileRecord | None,
        gone_by_hash: dict[str, str],
        gone: dict[str, FileRecord],
        report: SyncReport,
        extracted: Extracted | None = None,
    ) -> Prepared | None:
        """Read, hash and extract one file (or take ``extracted``, done elsewhere); None
        when it vanished since the scan."""
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
        data, read = (None, extracted) if extracted is not None else read_file(entry.path)
        if not read.hash:
            if read.status == "gone":
                return None  # vanished after the scan: the next sync sees it gone
            return self._not_indexed(record, "failed", read.reason, report)
        content_hash = read.hash
        record = replace(record, hash=content_hash, size=read.size)
        if previous is not None and previous.hash == content_hash and self.current(previous):
            report.unchanged += 1  # touched, not changed: remember the new mtime only
            return Prepared(replace(previous, mtime_ns=entry.mtime_ns, size=read.size))
        old_path = gone_by_hash.pop(content_hash, None)
        if old_path is not None and previous is None and self.current(gone[old_path]):
            return self._renamed(record, gone[old_path], report)
        if extracted is None:
            assert data is not None
            extracted = self._extracted(record, extractor, data)
        return self._indexed(record, extracted, previous is None, report)

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

    def _extracted(self, record: FileRecord, extractor: Any, data: bytes) -> Extracted:
        """Extract and chunk a new or changed file's ``data`` (an ``extract`` span)."""
        attributes = {"workbench.file.kind": record.kind, "workbench.extractor": extractor.name,
                      "workbench.file.bytes": len(data)}  # fmt: skip
        watch = telemetry.Stopwatch()
        with telemetry.span(f"extract {record.kind}", attributes) as current:
            telemetry.content(current, "workbench.file.path", record.path)
            extracted = extract_chunks(
                record.path, data, extractor, self.embedder, self.settings.chunk_tokens
            )
            outcome = extracted.status
            if current.is_recording():
                current.set_attributes({"workbench.outcome": outcome,
                                        "workbench.chunks": len(extracted.chunks)})  # fmt: skip
        labels = {"workbench.file.kind": record.kind, "workbench.outcome": outcome}
        telemetry.EXTRACT_DURATION.record(watch.seconds, labels)
        return extracted

    def _indexed(
        self, record: FileRecord, extracted: Extracted, is_new: bool, report: SyncReport
    ) -> Prepared:
        """The Prepared of an extracted file, counted as new or changed (or why not)."""
        if extracted.status != "indexed":
            return self._not_indexed(record, extracted.status, extracted.reason, report)
        chunks = extracted.chunks
        if is_new:
            report.new += 1
        else:
            report.changed += 1
        report.changes.append({"path": record.path, "action": "new" if is_new else "changed"})
        record = replace(
            record, kind=extracted.kind, status="indexed", chunks=len(chunks), meta=extracted.meta
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
