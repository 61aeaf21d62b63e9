"""Nothing a folder holds can hurt the workbench: decompression bombs and endless lines.

Memory is asserted, never time: in-process with tracemalloc (it sees every Python bytes object,
zlib's output included), and for a whole ingest as the peak RSS of the `workbench` process.
"""

from __future__ import annotations

import os
import random
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

from workbench.core.extraction.compressed import CompressedExtractor
from workbench.core.extraction.documents import Block, ExtractionError, SkipFile
from workbench.core.extraction.extractors import (
    MAX_LINE_CHARS,
    MarkdownExtractor,
    PlainTextExtractor,
)
from workbench.core.extraction.images import ImageExtractor
from workbench.core.extraction.office import (
    DocxExtractor,
    EpubExtractor,
    PptxExtractor,
    XlsxExtractor,
)
from workbench.core.extraction.pdf import PdfExtractor
from workbench.core.index.chunking import COUNT_BATCH, WINDOW_CHARS, chunk_blocks
from workbench.workbench import Workbench

GB = 2**30
EXTRACTORS: dict[str, Any] = {
    ".docx": DocxExtractor(),
    ".xlsx": XlsxExtractor(),
    ".pptx": PptxExtractor(),
    ".epub": EpubExtractor(),
}
OVER_250_MB = r"expands to \d+ MB, over the 250 MB limit for unpacked content"
WORDS = "the otter swims past seven green reeds while herons wait on the far bank".split()


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


class RecordingCounter:
    """The real embedder's tokenizer, noting the largest text and batch it is handed."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.longest = 0
        self.largest_batch = 0

    def count_tokens(self, texts: list[str]) -> list[int]:
        self.largest_batch = max(self.largest_batch, len(texts))
        self.longest = max([self.longest, *map(len, texts)])
        return list(self.embedder.count_tokens(texts))

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        self.longest = max(self.longest, len(text))
        return list(self.embedder.token_offsets(text))


def words(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    text = " ".join(rng.choice(WORDS) for _ in range(size // 4))
    return text[:size]


@pytest.mark.slow
def test_tokenizer_never_sees_a_huge_text(embedder: Any) -> None:
    # Tokenizing one long string slows down faster than its length grows (a 20 MB line never
    # finished); so does one call over millions of lines. Both are fed in bounded pieces.
    long_line = Block(words(MB), 1, 1, "Notes")
    short_lines = Block("\n".join(["otter and heron"] * 60_000), 2, 60_001)
    counter = RecordingCounter(embedder)
    chunks = chunk_blocks([long_line, short_lines], counter)
    assert counter.longest <= WINDOW_CHARS
    assert counter.largest_batch <= COUNT_BATCH
    assert chunks[0].locator == {"lines": [1, 1], "heading": "Notes"}
    assert chunks[-1].locator["lines"][1] == 60_001
    assert max(embedder.count_tokens([chunk.text for chunk in chunks])) + 2 <= 256


def test_long_line_parts_stay_full_across_windows(embedder: Any) -> None:
    text = words(200_000)
    chunks = chunk_blocks([Block(text, 1, 1)], embedder, max_tokens=128)
    tokens = embedder.count_tokens([text])[0]
    assert len(chunks) == -(-tokens // 126)  # as many as a single tokenization would give
    # Parts end at token boundaries (a word may be cut between its word pieces): all is kept.
    assert "".join("".join(chunk.text for chunk in chunks).split()) == "".join(text.split())


def test_unsplittable_line_makes_bounded_chunks(embedder: Any) -> None:
    # One "word" the tokenizer cannot split is one [UNK] token however long: it used to become
    # a single 1 MB chunk.
    blob = "QUJD" * (MB // 4)
    chunks = chunk_blocks([Block(blob, 7, 7)], embedder)
    assert max(len(chunk.text) for chunk in chunks) <= WINDOW_CHARS
    assert "".join(chunk.text for chunk in chunks) == blob
    assert {tuple(chunk.locator["lines"]) for chunk in chunks} == {(7, 7)}


def test_file_that_is_one_endless_line_is_skipped_with_a_reason() -> None:
    data = words(MAX_LINE_CHARS + 10).encode()
    with pytest.raises(SkipFile, match=r"its one line is too long to be text \(line 1: 1 MB"):
        PlainTextExtractor().extract(Path("dump.txt"), data)


def test_an_endless_line_is_left_out_and_the_rest_indexed() -> None:
    blob = "QUJD" * (MAX_LINE_CHARS // 2)
    text = f"# Trip\n\nThe otter swims.\n\n![map](data:image/png;base64,{blob})\n\nHerons wait.\n"
    extraction = MarkdownExtractor().extract(Path("trip.md"), text.encode())
    assert [block.text for block in extraction.blocks] == ["The otter swims.", "Herons wait."]
    assert [block.line_start for block in extraction.blocks] == [3, 7]
    assert extraction.metadata["long_lines"] == [5]


@pytest.mark.slow
def test_one_line_file_is_indexed_and_searchable(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    line = words(40_000) + " the quokka ledger balances at dawn " + words(20_000, seed=2)
    (folder / "one-line.txt").write_text(line, encoding="utf-8")
    workbench.add_folder(folder)
    report = workbench.ingest().as_json()
    assert report["files"]["new"] == 1
    hits = workbench.search("quokka ledger", k=1, mode="text")
    assert hits and hits[0].locator == {"lines": [1, 1]}
    assert "quokka ledger" in hits[0].text


def hostile_folder(root: Path) -> dict[str, Callable[[str], bool]]:
    """A folder of bombs and one good note; what each file's reason must say."""
    office_bomb(root / "report.docx", 300 * MB)
    office_bomb(root / "liar.docx", 300 * MB, lie=True)
    office_bomb(root / "sheet.xlsx", 300 * MB)
    epub_bomb(root / "book.epub", 300 * MB)
    gzip_bomb(root / "app.log.gz", 1024 * MB)
    pixel_bomb(root / "scan.png", 9000, 9000)
    pdf_bomb(root / "drawing.pdf", 5 * MB)
    (root / "dump.json").write_text(f'{{"blob": "{"QUJD" * (2 * MB)}"}}', encoding="utf-8")
    (root / "note.md").write_text("# Note\n\nThe heron ledger is kept by the otter.\n")
    return {
        "report.docx": lambda reason: bool(re.match(OVER_250_MB, reason)),
        "liar.docx": lambda reason: "inflates past the 2 KB its zip header declares" in reason,
        "sheet.xlsx": lambda reason: bool(re.match(OVER_250_MB, reason)),
        "book.epub": lambda reason: bool(re.match(OVER_250_MB, reason)),
        "app.log.gz": lambda reason: reason.startswith("expands to 1 GB, over the 25 MB limit"),
        "scan.png": lambda reason: reason.startswith("expands to 309 MB of pixels"),
        "drawing.pdf": lambda reason: "page 1's content expands" in reason,
        "dump.json": lambda reason: "its one line is too long to be text" in reason,
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
    reasons = {Path(row["path"]).name: row for row in workbench.status().as_json()["failed"]}
    for name, says in expected.items():
        assert says(reasons[name]["reason"]), (name, reasons[name])
    assert reasons["dump.json"]["status"] == "skipped"
    assert all(reasons[name]["status"] == "failed" for name in expected if name != "dump.json")
    hits = workbench.search("heron ledger", k=1)
    assert hits and hits[0].path == str(folder / "note.md")
