"""The coverage report behind `workbench doctor`: what the index holds and what it misses.

Built from the ``files`` rows alone (each keeps its extractor's metadata as JSON), so it
costs no extraction and works while another process syncs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from workbench.core.extraction.documents import EngineStatus

if TYPE_CHECKING:
    from workbench.core.index.store import FileRecord

STATUSES = ("indexed", "failed", "skipped")


def coverage_report(
    records: Iterable[FileRecord], engines: Sequence[EngineStatus]
) -> dict[str, Any]:
    """The `workbench doctor --json` contract."""
    rows = sorted(records, key=lambda record: record.path)
    metas = {record.path: _meta(record) for record in rows}
    by_kind: dict[str, dict[str, int]] = {}
    for record in rows:
        counts = by_kind.setdefault(kind_of(record), dict.fromkeys(STATUSES, 0))
        counts[record.status] = counts.get(record.status, 0) + 1
    return {
        "files": {"total": len(rows)}
        | {status: sum(r.status == status for r in rows) for status in STATUSES},
        "by_kind": dict(sorted(by_kind.items())),
        "no_text": no_text(rows, metas),
        "ocr": ocr_summary(rows, metas),
        "failed": [_problem(r) for r in rows if r.status == "failed"],
        "skipped": [_problem(r) for r in rows if r.status == "skipped"],
        "engines": [
            engine.as_json() | {"affected": affected(engine, rows, metas)} for engine in engines
        ],
    }


def kind_of(record: FileRecord) -> str:
    """The extractor that handled (or tried) the file, else the file's own kind."""
    return record.extractor or record.kind


def no_text(rows: list[FileRecord], metas: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Files an extractor handled that gave no text of their own."""
    found = []
    for record in rows:
        if record.status == "indexed" and metas[record.path].get("text_chars") == 0:
            reason = "indexed by its details only (name, size, EXIF): no words were read from it"
            found.append({"path": record.path, "status": record.status, "reason": reason})
        elif record.status == "skipped" and record.extractor:
            found.append(_problem(record))
    return found


def ocr_summary(rows: list[FileRecord], metas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pages read by OCR, and pages left out (over the page cap, or with no engine)."""
    documents = []
    totals = {"ocr_pages": 0, "ocr_capped": 0, "ocr_missing": 0}
    for record in rows:
        meta = metas[record.path]
        pages = {key: meta.get(key) or [] for key in totals}
        if not any(pages.values()):
            continue
        for key, numbers in pages.items():
            totals[key] += len(numbers)
        entry: dict[str, Any] = {"path": record.path, "kind": kind_of(record)}
        entry |= {key: page_ranges(numbers) for key, numbers in pages.items() if numbers}
        documents.append(entry)
    return {
        "pages": totals["ocr_pages"],
        "files": sum(1 for d in documents if "ocr_pages" in d),
        "capped_pages": totals["ocr_capped"],
        "missing_engine_pages": totals["ocr_missing"],
        "documents": documents,
    }


def affected(
    engine: EngineStatus, rows: list[FileRecord], metas: dict[str, dict[str, Any]]
) -> list[str]:
    """Files indexed without the engine's part, or not indexed for want of it."""
    return [
        record.path
        for record in rows
        if engine.name in (metas[record.path].get("missing") or [])
        or (record.status != "indexed" and engine.marker and engine.marker in record.reason)
    ]


def page_ranges(numbers: Sequence[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    parts: list[str] = []
    for number in sorted(numbers):
        if parts and number == int(parts[-1].rsplit("-", 1)[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{number}"
        else:
            parts.append(str(number))
    return ", ".join(parts)


def _meta(record: FileRecord) -> dict[str, Any]:
    try:
        meta = json.loads(record.meta) if record.meta else {}
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _problem(record: FileRecord) -> dict[str, str]:
    return {"path": record.path, "status": record.status, "reason": record.reason}
