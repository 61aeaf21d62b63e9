"""What the index holds and how it is: `status`, `doctor` and `repair` over a Library."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from workbench.core.index.coverage import coverage_report, kind_of
from workbench.core.index.failures import explained
from workbench.core.index.library import Library, NoProgress
from workbench.core.index.records import DoctorReport, FileProblem, LibraryStatus, RepairResult
from workbench.core.index.repair import restore, salvage


def library_status(library: Library) -> LibraryStatus:
    """Files and chunks in the index, by status and by kind (the kind `doctor` uses too)."""
    with explained(library.location):
        return _status(library)


def _status(library: Library) -> LibraryStatus:
    library.check()
    records = sorted(library.store.file_records().values(), key=lambda record: record.path)
    return LibraryStatus(
        files=sum(record.status == "indexed" for record in records),
        chunks=library.store.chunk_count(),
        failed=[FileProblem(r.path, r.status, r.reason) for r in records if r.status != "indexed"],
        version=library.store.version(),
        folders=library.folders(),
        by_status=dict(Counter(record.status for record in records)),
        by_kind=dict(Counter(kind_of(r) for r in records if r.status == "indexed")),
        embedder=library.settings.embedder,
    )


def doctor(library: Library) -> DoctorReport:
    """Coverage: files per kind and status, OCR, no-text files, failures, engines."""
    with explained(library.location):
        return _doctor(library)


def _doctor(library: Library) -> DoctorReport:
    problems = library.store.check(full=True)
    if problems:
        return DoctorReport(damaged=True, problems=problems)
    settings = library.settings
    return DoctorReport(
        damaged=False,
        problems=[],
        coverage=coverage_report(library.store.file_records().values(), library.registry.engines()),
        settings={
            "ocr_engine": settings.ocr_engine,
            "ocr_language": settings.ocr_language,
            "ocr_max_pages": settings.ocr_max_pages,
        },
    )


def repair(
    library: Library,
    *,
    on_progress: NoProgress = lambda progress: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RepairResult:
    """Rebuild the index from the files in the library's folders.

    The folder list, cached vectors and answer log are kept where they can be read; the
    damaged index is moved aside (its path is in the result) and a sync rebuilds the rest.
    """
    with library.store.writing(timeout=30):
        problems = library.store.check(full=True)
        saved = salvage(library.store)
        aside = library.location.set_aside()
        library.reopen()  # the Store and Syncer were built on the old index
        restore(library.store, saved)
    result = RepairResult(problems, str(aside), saved.counts(), saved.folders)
    if saved.folders:
        result.sync = library.ingest(on_progress=on_progress, should_stop=should_stop)
    return result
