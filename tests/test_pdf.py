"""PDFs page by page: text layers, scans read by OCR, mixed files, passwords, page caps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from filemakers import mixed_pdf, scanned_pdf, text_pdf

from workbench.core.extraction.pdf import PdfExtractor
from workbench.workbench import Workbench


def synced(workbench: Workbench, folder: Path) -> dict[str, Any]:
    workbench.add_folder(folder)
    return workbench.ingest().as_json()


def top(workbench: Workbench, query: str) -> Any:
    hits = workbench.search(query, k=3)
    assert hits, f"nothing found for {query!r}"
    return hits[0]


def meta(workbench: Workbench, path: Path) -> dict[str, Any]:
    return json.loads(workbench.library.store.file_records()[str(path)].meta)


def test_text_layer_pages_are_found_with_their_page(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    pdf = text_pdf(
        folder / "orchard.pdf",
        [
            ["Quarterly report for the orchard cooperative.", "Apple harvest rose this year."],
            ["The pear blight was treated with copper fungicide."],
        ],
    )
    report = synced(workbench, folder)
    assert report["files"]["new"] == 1 and report["files"]["failed"] == 0
    hit = top(workbench, "pear blight copper fungicide")
    assert (hit.path, hit.locator, hit.kind) == (str(pdf), {"page": 2}, "pdf")
    assert top(workbench, "orchard cooperative harvest").locator == {"page": 1}
    details = meta(workbench, pdf)
    assert details["pages"] == 2 and details["text_layer_pages"] == 2
    assert "ocr_pages" not in details


def test_scanned_pdf_is_read_by_ocr_page_by_page(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    pdf = scanned_pdf(
        folder / "logbook.pdf",
        [
            ["The lighthouse keeper logged forty ships.", "Storm warnings came on Tuesday."],
            ["The ferry timetable changes in winter."],
        ],
    )
    synced(workbench, folder)
    hit = top(workbench, "ferry timetable winter")
    assert (hit.path, hit.locator) == (str(pdf), {"page": 2})
    assert "ferry timetable" in hit.text
    assert top(workbench, "lighthouse keeper").locator == {"page": 1}
    assert meta(workbench, pdf)["ocr_pages"] == [1, 2]


def test_mixed_pdf_reads_text_layer_and_ocrs_the_scanned_page(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    pdf = mixed_pdf(
        folder / "minutes.pdf",
        ["Minutes of the allotment society meeting."],
        ["Signed copy: the treasurer approved the greenhouse repairs."],
    )
    synced(workbench, folder)
    assert top(workbench, "allotment society minutes").locator == {"page": 1}
    hit = top(workbench, "treasurer approved greenhouse repairs")
    assert (hit.path, hit.locator) == (str(pdf), {"page": 2})
    details = meta(workbench, pdf)
    assert details["text_layer_pages"] == 1 and details["ocr_pages"] == [2]


def test_ocr_page_cap_leaves_later_pages_out_and_says_so(
    make_workbench: Any, tmp_path: Path
) -> None:
    workbench = make_workbench(ocr_max_pages=1)
    folder = tmp_path / "scans"
    folder.mkdir()
    pdf = scanned_pdf(
        folder / "long.pdf", [["Chapter one is about beekeeping."], ["Chapter two covers kites."]]
    )
    synced(workbench, folder)
    assert top(workbench, "beekeeping").locator == {"page": 1}
    assert not any("kites" in hit.text for hit in workbench.search("kites", k=5))
    assert meta(workbench, pdf)["ocr_capped"] == [2]
    ocr = workbench.doctor().as_json()["ocr"]
    assert ocr["capped_pages"] == 1
    assert ocr["documents"] == [
        {"path": str(pdf), "kind": "pdf", "ocr_pages": "1", "ocr_capped": "2"}
    ]


def test_encrypted_pdfs_open_with_an_empty_password_or_fail_saying_why(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    open_copy = text_pdf(folder / "open.pdf", [["Owner-only protection on the canal map."]], "")
    locked = text_pdf(folder / "locked.pdf", [["Secret salary review."]], password="hunter2")
    report = synced(workbench, folder)
    assert report["files"]["new"] == 1 and report["files"]["failed"] == 1
    assert top(workbench, "canal map").path == str(open_copy)
    problem = next(p for p in report["problems"] if p["path"] == str(locked))
    assert "needs a password" in problem["reason"]
    assert meta(workbench, open_copy)["encrypted"] is True


def test_bumping_an_extractor_version_reextracts_only_its_kind(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    text_pdf(folder / "a.pdf", [["Notes on the glacier survey."]])
    (folder / "b.md").write_text("# Moss\n\nMoss grows on the north side.\n", encoding="utf-8")
    synced(workbench, folder)
    pdf = next(e for e in workbench.registry.extractors if isinstance(e, PdfExtractor))
    pdf.code_version = "999"  # what a release that changes PDF extraction does
    again = workbench.ingest().as_json()
    assert again["files"]["changed"] == 1 and again["files"]["unchanged"] == 1
    assert again["chunks"]["embedded"] == 0  # same text: vectors come from the cache
    record = workbench.library.store.file_records()[str(folder / "a.pdf")]
    assert record.extractor_version.startswith("999+")
