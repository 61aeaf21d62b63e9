"""Word, PowerPoint, Excel and EPUB files, made with their own libraries."""

from __future__ import annotations

from pathlib import Path

from filemakers import docx_file, epub_file, pptx_file, xlsx_file

from workbench.workbench import Workbench


def test_office_documents_are_found_with_structure(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "office"
    folder.mkdir()
    docx = docx_file(folder / "plan.docx")
    pptx = pptx_file(folder / "deck.pptx")
    xlsx = xlsx_file(folder / "stock.xlsx")
    epub = epub_file(folder / "coast.epub")
    workbench.add_folder(folder)
    report = workbench.ingest().as_json()
    assert report["files"]["new"] == 4, report["problems"]

    def top(query: str) -> tuple[str, dict[str, object]]:
        hit = workbench.search(query, k=1)[0]
        return hit.path, hit.locator

    assert top("tulip bulbs October") == (str(docx), {"heading": "Garden plan"})
    assert top("compost cost") == (str(docx), {"heading": "Garden plan > Budget"})
    assert top("glacier survey slip") == (str(pptx), {"page": 2, "heading": "Risks"})
    assert top("weather station") == (str(pptx), {"page": 2, "heading": "Risks"})
    path, locator = top("brass hinge")
    assert path == str(xlsx) and locator["heading"] == "Inventory > columns: part | count"
    assert locator["lines"][0] <= 3 <= locator["lines"][1]
    assert top("salt marsh maps oak drawers") == (
        str(epub),
        {"heading": "Coast > The Archive"},
    )


def test_damaged_office_files_fail_with_reasons(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "office"
    folder.mkdir()
    whole = docx_file(tmp_path / "whole.docx").read_bytes()
    (folder / "cut.docx").write_bytes(whole[: len(whole) // 2])
    (folder / "protected.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    (folder / "fake.epub").write_bytes(b"PK\x03\x04 not really a zip")
    workbench.add_folder(folder)
    report = workbench.ingest().as_json()
    reasons = {Path(p["path"]).name: p["reason"] for p in report["problems"]}
    assert report["files"]["failed"] == 3
    assert reasons["cut.docx"].startswith("damaged Word document")
    assert reasons["protected.xlsx"].startswith("password-protected or old-format Excel")
    assert reasons["fake.epub"].startswith("damaged EPUB book")
