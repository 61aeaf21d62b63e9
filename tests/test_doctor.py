"""Coverage report, damaged files, missing OCR engine, and interrupted slow syncs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from filemakers import scanned_pdf, text_pdf, word_png
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core.extraction.documents import Block
from workbench.core.extraction.ocr import NO_OCR_ENGINE, Ocr
from workbench.core.index.chunking import chunk_blocks
from workbench.core.index.coverage import page_ranges
from workbench.presentation import format_locator
from workbench.workbench import Workbench

runner = CliRunner()


def cli(workbench: Workbench, *args: str) -> Any:
    return runner.invoke(build_cli(), list(args), obj=workbench, catch_exceptions=False)


def damaged_files(folder: Path, scratch: Path) -> dict[str, str]:
    """Broken PDFs, images and audio, with the start of the reason each must fail with."""
    noise = random.Random(7).randbytes(3000)
    pdf = text_pdf(scratch / "whole.pdf", [["A perfectly good page."]]).read_bytes()
    png = word_png(scratch / "whole.png", ["A perfectly good picture"]).read_bytes()
    files = {
        "cut.pdf": (pdf[: len(pdf) // 2], "truncated PDF"),
        "garbled.pdf": (b"%PDF-1.7\n" + noise + b"\n%%EOF\n", "damaged PDF"),
        "cut.png": (png[: len(png) // 2], "damaged or truncated image"),
        "noise.jpg": (noise, "not a readable image"),
        "noise.wav": (b"RIFF\x00\x01\x00\x00WAVEfmt " + noise, "damaged or unreadable audio"),
        "empty-ish.ogg": (b"OggS" + bytes(64), "damaged or unreadable audio"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items()}


def test_damaged_files_fail_with_reasons_and_never_stop_the_sync(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "mess"
    folder.mkdir()
    expected = damaged_files(folder, tmp_path)
    good = text_pdf(folder / "good.pdf", [["The kiln reached 1200 degrees on Friday."]])
    assert cli(workbench, "add", str(folder)).exit_code == 0
    ingest = json.loads(cli(workbench, "ingest", "--json").stdout)
    assert ingest["files"]["new"] == 1 and ingest["files"]["failed"] == len(expected)
    status = json.loads(cli(workbench, "status", "--json").stdout)
    failed = {Path(row["path"]).name: row for row in status["failed"]}
    assert set(failed) == set(expected)
    for name, reason in expected.items():
        assert failed[name]["status"] == "failed"
        assert failed[name]["reason"].startswith(reason), failed[name]
    assert workbench.search("kiln temperature", k=1)[0].path == str(good)


def test_doctor_reports_coverage_as_json_and_text(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    scanned_pdf(folder / "scan.pdf", [["Scanned receipt for a rowing machine."]])
    text_pdf(folder / "paper.pdf", [["A paper about tidal energy."]])
    word_png(folder / "note.png", ["Remember the dentist on Monday"])
    (folder / "readme.md").write_text("# Hello\n\nA markdown note.\n", encoding="utf-8")
    (folder / "cut.pdf").write_bytes(b"%PDF-1.4\n1 0 obj")
    cli(workbench, "add", str(folder))
    cli(workbench, "ingest")
    result = cli(workbench, "doctor", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert set(report) == {
        "files", "by_kind", "no_text", "ocr", "failed", "skipped", "engines", "settings", "library",
    }  # fmt: skip
    assert report["files"] == {"total": 5, "indexed": 4, "failed": 1, "skipped": 0}
    assert report["by_kind"]["pdf"] == {"indexed": 2, "failed": 1, "skipped": 0}
    assert report["by_kind"]["image"] == {"indexed": 1, "failed": 0, "skipped": 0}
    assert report["ocr"]["pages"] == 2 and report["ocr"]["files"] == 2  # scan page + PNG
    assert [Path(row["path"]).name for row in report["failed"]] == ["cut.pdf"]
    engines = {engine["name"]: engine for engine in report["engines"]}
    chosen = Ocr().engine.name  # Tesseract or RapidOCR, whichever "auto" takes here
    assert engines[chosen]["available"] and engines[chosen]["affected"] == []
    text = cli(workbench, "doctor").stdout
    assert "5 files: 4 indexed, 1 failed, 0 skipped" in text
    assert "OCR (eng): 2 pages read in 2 files" in text and "cut.pdf: truncated PDF" in text


def test_without_ocr_engine_doctor_names_affected_files_and_switching_fixes_them(
    tmp_path: Path, workbench_home: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    scan = scanned_pdf(folder / "scan.pdf", [["Warranty card for the espresso grinder."]])
    note = word_png(folder / "note.png", ["Pick up the violin strings"])
    exe = Path(sys.executable).parent / "workbench"
    (tmp_path / "bin").mkdir()
    no_tesseract = dict(
        os.environ,
        WORKBENCH_HOME=str(workbench_home),
        PATH=str(tmp_path / "bin"),
        WORKBENCH_OCR_ENGINE="tesseract",
    )

    def run(*args: str, env: dict[str, str] = no_tesseract) -> Any:
        done = subprocess.run(
            [str(exe), *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if "--json" in args else done.stdout

    run("add", str(folder))
    ingest = run("ingest", "--json")
    assert ingest["files"] == ingest["files"] | {"new": 1, "failed": 1}
    assert NO_OCR_ENGINE in ingest["problems"][0]["reason"]
    assert "apt install tesseract-ocr" in ingest["problems"][0]["reason"]
    report = run("doctor", "--json")
    tesseract = next(e for e in report["engines"] if e["name"] == "tesseract")
    assert not tesseract["available"]
    assert tesseract["affected"] == [str(note), str(scan)]
    rapidocr = next(e for e in report["engines"] if e["name"] == "rapidocr")
    assert rapidocr["available"] and rapidocr["affected"] == []  # on hand, not in use
    assert "missing tesseract" in run("doctor") and str(scan) in run("doctor")

    # Back to the bundled engine: the next sync redoes exactly the files that needed OCR.
    bundled = dict(no_tesseract, WORKBENCH_OCR_ENGINE="auto")
    again = run("ingest", "--json", env=bundled)
    assert again["files"]["new"] + again["files"]["changed"] == 2
    hits = run("search", "espresso grinder warranty", "--json", env=bundled)
    assert hits["results"][0]["path"] == str(scan)
    assert all(e["available"] for e in run("doctor", "--json", env=bundled)["engines"])


def test_interrupted_ocr_sync_keeps_finished_files(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    for number, topic in enumerate(["lichen", "otters", "granite", "saffron"]):
        scanned_pdf(folder / f"scan{number}.pdf", [[f"This scanned page is about {topic}."]])
    workbench.add_folder(folder)
    workbench.library.syncer.flush_seconds = 0  # commit after every file, as a long OCR run does

    def ctrl_c_before_the_third_file(progress: Any) -> None:
        if progress.phase == "index" and progress.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        workbench.ingest(on_progress=ctrl_c_before_the_third_file)
    finished = {
        p for p, r in workbench.library.store.file_records().items() if r.status == "indexed"
    }
    assert finished == {str(folder / "scan0.pdf"), str(folder / "scan1.pdf")}

    resumed = workbench.ingest().as_json()
    assert resumed["files"]["unchanged"] == 2 and resumed["files"]["new"] == 2
    assert workbench.search("saffron", k=1)[0].path == str(folder / "scan3.pdf")


def test_time_and_region_locators_span_their_blocks(embedder: Any) -> None:
    blocks = [
        Block("First words.", start_s=1.0, end_s=2.5),
        Block("Then more words.", start_s=2.5, end_s=6.25),
    ]
    (chunk,) = chunk_blocks(blocks, embedder)
    assert chunk.locator == {"time": [1.0, 6.25]}
    assert format_locator({"time": [65.0, 3725.5]}) == "1:05-1:02:05"
    boxes = [Block("Top", region=(10, 10, 50, 20)), Block("Below", region=(5, 30, 40, 45))]
    assert chunk_blocks(boxes, embedder)[0].locator == {"region": [5, 10, 50, 45]}
    assert page_ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"


def test_cli_help_loads_no_file_libraries() -> None:
    code = (
        "import sys; from workbench.cli.app import build_cli; build_cli();"
        "heavy = {'PIL', 'pypdf', 'pypdfium2', 'pdfminer', 'pytesseract', 'faster_whisper',"
        " 'ctranslate2', 'av', 'docx', 'pptx', 'openpyxl'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
