"""Nothing a folder holds can hurt the workbench: decompression bombs.

Memory is asserted, never time: in-process with tracemalloc (it sees every Python bytes object,
zlib's output included), and for a whole ingest as the peak RSS of the `workbench` process.
"""

from __future__ import annotations

import os
import re
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bombs import (
    MB,
    bz2_bomb,
    epub_bomb,
    gzip_bomb,
    office_bomb,
    pdf_bomb,
    pixel_bomb,
    run_measured,
)

from workbench.core.compressed import CompressedExtractor
from workbench.core.documents import ExtractionError, SkipFile
from workbench.core.extractors import PlainTextExtractor
from workbench.core.images import ImageExtractor
from workbench.core.office import DocxExtractor, EpubExtractor, PptxExtractor, XlsxExtractor
from workbench.core.pdf import PdfExtractor

GB = 2**30
EXTRACTORS: dict[str, Any] = {
    ".docx": DocxExtractor(),
    ".xlsx": XlsxExtractor(),
    ".pptx": PptxExtractor(),
    ".epub": EpubExtractor(),
}
OVER_250_MB = r"expands to \d+ MB, over the 250 MB limit for unpacked content"


def extract_measured(extractor: Any, path: Path) -> tuple[Exception | None, int]:
    """(what extracting ``path`` raised, peak bytes Python allocated meanwhile)."""
    data = path.read_bytes()
    tracemalloc.start()
    try:
        extractor.extract(path, data)
        raised = None
    except (ExtractionError, SkipFile) as exc:
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


@pytest.mark.parametrize("suffix", [".docx", ".xlsx", ".pptx", ".epub"])
def test_zip_bomb_fails_before_anything_is_inflated(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bomb{suffix}"
    if suffix == ".epub":
        epub_bomb(path, 300 * MB, html=False)
    else:
        office_bomb(path, 300 * MB, xml=False)
    assert path.stat().st_size < 2 * MB
    raised, peak = extract_measured(EXTRACTORS[suffix], path)
    assert isinstance(raised, ExtractionError)
    assert re.match(OVER_250_MB, str(raised))
    assert "decompression bomb" in str(raised)
    assert peak < 32 * MB


def test_zip_part_packed_too_well_fails_under_the_size_limit(tmp_path: Path) -> None:
    path = office_bomb(tmp_path / "dense.docx", 8 * MB, xml=False)
    raised, _ = extract_measured(DocxExtractor(), path)
    assert isinstance(raised, ExtractionError)
    assert "'word/document.xml' expands" in str(raised) and "over the 100:1 limit" in str(raised)


def test_zip_header_that_lies_about_a_size_is_caught_while_inflating(tmp_path: Path) -> None:
    # zipfile trusts the declared 2 KB and would inflate all 300 MB at once in read().
    path = office_bomb(tmp_path / "liar.docx", 300 * MB, lie=True, xml=False)
    raised, peak = extract_measured(DocxExtractor(), path)
    assert isinstance(raised, ExtractionError)
    assert "'word/document.xml' inflates past the 2 KB its zip header declares" in str(raised)
    assert peak < 32 * MB


def test_real_office_files_still_read(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("The heron report is due on Friday.")
    document.save(str(tmp_path / "fine.docx"))
    raised, _ = extract_measured(DocxExtractor(), tmp_path / "fine.docx")
    assert raised is None


def test_gzip_bomb_fails_and_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    path = gzip_bomb(tmp_path / "app.log.gz", 300 * MB)
    raised, peak = extract_measured(CompressedExtractor(PlainTextExtractor(), ".gz", 25 * MB), path)
    assert isinstance(raised, ExtractionError)
    # The gzip trailer says how big: the stream is inflated only to the limit, to check it.
    assert str(raised).startswith("expands to 300 MB, over the 25 MB limit for unpacked content")
    assert "raise max_file_mb" in str(raised)
    assert peak < 64 * MB


def test_bz2_bomb_fails_with_the_limit_it_passed(tmp_path: Path) -> None:
    path = bz2_bomb(tmp_path / "app.log.bz2", 64 * MB)
    raised, _ = extract_measured(CompressedExtractor(PlainTextExtractor(), ".bz2", 16 * MB), path)
    assert isinstance(raised, ExtractionError)
    assert str(raised).startswith("expands to more than 16 MB, over the 16 MB limit")


def test_gzip_limit_is_capped_even_when_max_file_mb_is_huge(tmp_path: Path) -> None:
    path = gzip_bomb(tmp_path / "app.log.gz", 300 * MB)
    extractor = CompressedExtractor(PlainTextExtractor(), ".gz", 4 * GB)
    with pytest.raises(ExtractionError, match="over the 250 MB limit for unpacked content"):
        extractor.extract(path, path.read_bytes())


def test_pixel_bomb_fails_from_its_header(tmp_path: Path) -> None:
    # Under Pillow's own warning (89 megapixels) but 309 MB once decoded, before any copy.
    path = pixel_bomb(tmp_path / "tiny.png", 9000, 9000)
    assert path.stat().st_size < MB
    raised, peak = extract_measured(ImageExtractor(), path)
    assert isinstance(raised, ExtractionError)
    assert str(raised).startswith("expands to 309 MB of pixels (9,000 x 8,990), over the 250 MB")
    assert "scale it down" in str(raised)
    assert peak < 32 * MB
    huge = pixel_bomb(tmp_path / "huge.png", 20_000, 20_000)
    raised, _ = extract_measured(ImageExtractor(), huge)
    assert isinstance(raised, ExtractionError)
    assert str(raised).startswith("expands to 1.5 GB of pixels, over the 250 MB limit")


def test_pdf_bomb_fails_without_parsing_its_pages(tmp_path: Path) -> None:
    # 5 MB of drawing operators from 16 KB: pypdf would spend ~10 s and 150 MB parsing them.
    path = pdf_bomb(tmp_path / "bomb.pdf", 5 * MB)
    raised, _ = extract_measured(PdfExtractor(), path)
    assert isinstance(raised, ExtractionError)
    assert "page 1's content expands" in str(raised) and "100:1 limit" in str(raised)


def hostile_folder(root: Path) -> dict[str, Callable[[str], bool]]:
    """A folder of bombs and one good note; what each file's reason must say."""
    office_bomb(root / "report.docx", 300 * MB)
    office_bomb(root / "liar.docx", 300 * MB, lie=True)
    office_bomb(root / "sheet.xlsx", 300 * MB)
    epub_bomb(root / "book.epub", 300 * MB)
    gzip_bomb(root / "app.log.gz", 1024 * MB)
    pixel_bomb(root / "scan.png", 9000, 9000)
    pdf_bomb(root / "drawing.pdf", 5 * MB)
    (root / "note.md").write_text("# Note\n\nThe heron ledger is kept by the otter.\n")
    return {
        "report.docx": lambda reason: bool(re.match(OVER_250_MB, reason)),
        "liar.docx": lambda reason: "inflates past the 2 KB its zip header declares" in reason,
        "sheet.xlsx": lambda reason: bool(re.match(OVER_250_MB, reason)),
        "book.epub": lambda reason: bool(re.match(OVER_250_MB, reason)),
        "app.log.gz": lambda reason: reason.startswith("expands to 1 GB, over the 25 MB limit"),
        "scan.png": lambda reason: reason.startswith("expands to 309 MB of pixels"),
        "drawing.pdf": lambda reason: "page 1's content expands" in reason,
    }


@pytest.fixture
def cli(workbench_home: Path, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    exe = str(Path(sys.executable).parent / "workbench")
    env = dict(os.environ, WORKBENCH_HOME=str(workbench_home))
    yield lambda *args: run_measured([exe, *args], env, tmp_path)


@pytest.mark.slow
def test_ingest_of_a_folder_of_bombs_stays_under_1_gb(
    cli: Callable[..., Any], make_workbench: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    expected = hostile_folder(folder)
    assert cli("add", str(folder)).returncode == 0
    ingest = cli("ingest", "--json")
    assert ingest.returncode == 0, ingest.stderr
    assert "Traceback" not in ingest.stderr
    assert ingest.peak_rss < GB, f"peak RSS {ingest.peak_rss / MB:.0f} MB"
    workbench = make_workbench()
    reasons = {Path(row["path"]).name: row for row in workbench.status()["failed"]}
    for name, says in expected.items():
        assert says(reasons[name]["reason"]), (name, reasons[name])
    assert all(reasons[name]["status"] == "failed" for name in expected)
    hits = workbench.search("heron ledger", k=1)
    assert hits and hits[0].path == str(folder / "note.md")
