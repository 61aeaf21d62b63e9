"""OCR engines: RapidOCR out of the box, Tesseract where chosen, and how "auto" chooses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from filemakers import photo_jpeg, word_png, words_image
from PIL import Image

from workbench.config import Settings
from workbench.core.extraction.ocr import Ocr
from workbench.core.extraction.rapid_ocr import Line, paragraphs
from workbench.errors import WorkbenchError
from workbench.workbench import Workbench


def ocr_without_tesseract(tmp_path: Path, code: str) -> Any:
    """What ``code`` prints (as JSON) in a fresh Python whose PATH has no tesseract."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, PATH=str(empty)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_rapidocr_reads_a_rendered_page_with_its_regions() -> None:
    lines = ["Invoice 4471 from Marigold Bakery", "Delivery to Harbour Street"]
    page = words_image(lines, size=(1000, 320))  # small: detection memory grows with pixels
    blocks = Ocr("eng", "rapidocr").read(page, page=3)
    assert [line for block in blocks for line in block.text.splitlines()] == lines
    for block in blocks:
        left, top, right, bottom = block.region or (0, 0, 0, 0)
        assert 0 <= left < right <= page.width and 0 <= top < bottom <= page.height
        assert block.page == 3


def test_rapidocr_reads_nothing_in_a_photo_without_words(tmp_path: Path) -> None:
    photo = Image.open(photo_jpeg(tmp_path / "sky.jpg"))
    assert Ocr("eng", "rapidocr").read(photo) == []


def test_transparent_screenshot_is_read_on_white(tmp_path: Path) -> None:
    png = Image.open(word_png(tmp_path / "note.png", ["Pick up the violin strings"]))
    see_through = png.convert("L").point(lambda value: 255 - value)  # ink as opacity
    black_on_clear = Image.new("LA", png.size, 0)
    black_on_clear.putalpha(see_through)
    (block,) = Ocr("eng", "rapidocr").read(black_on_clear)
    assert block.text == "Pick up the violin strings"


def test_auto_uses_rapidocr_when_tesseract_is_missing(tmp_path: Path) -> None:
    chosen = ocr_without_tesseract(
        tmp_path,
        "import json; from workbench.core.extraction.ocr import Ocr; o = Ocr('eng', 'auto'); "
        "print(json.dumps([o.engine.name, o.version_tag, [s.name for s in o.statuses()]]))",
    )
    name, tag, listed = chosen
    assert name == "rapidocr" and tag.startswith("ocr-rapidocr-")
    assert listed == ["rapidocr"]  # an absent engine that is not in use is no problem


def test_chosen_tesseract_missing_says_to_install_it(tmp_path: Path) -> None:
    status, reason = ocr_without_tesseract(
        tmp_path,
        "import json; from workbench.core.extraction.ocr import Ocr; o = Ocr('eng', 'tesseract'); "
        "print(json.dumps([o.status.as_json(), o.missing_reason('scanned PDF (2 pages)')]))",
    )
    assert status["name"] == "tesseract" and not status["available"]
    assert "`tesseract` program is not on PATH" in status["detail"]
    assert reason.startswith("scanned PDF (2 pages) needs OCR, but no OCR engine is available")
    assert "install Tesseract (Debian/Ubuntu: `apt install tesseract-ocr`" in reason
    assert 'or set ocr_engine = "auto" to use the bundled RapidOCR' in reason


def test_auto_takes_tesseract_for_languages_rapidocr_lacks(tmp_path: Path) -> None:
    name, available = ocr_without_tesseract(
        tmp_path,
        "import json; from workbench.core.extraction.ocr import Ocr; o = Ocr('deu', 'auto'); "
        "print(json.dumps([o.engine.name, o.available]))",
    )
    assert (name, available) == ("tesseract", False)


def test_switching_engine_reocrs_the_files(make_workbench: Any, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    png = word_png(folder / "receipt.png", ["Receipt for the walnut dowels"])
    first: Workbench = make_workbench(ocr_engine="rapidocr")
    first.add_folder(folder)
    first.ingest()
    before = first.library.store.file_records()[str(png)].extractor_version
    assert before.endswith("+ocr-rapidocr-1.4.4")
    assert first.search("walnut dowels receipt", k=1)[0].path == str(png)

    second: Workbench = make_workbench(ocr_engine="tesseract")
    report = second.ingest().as_json()
    assert report["files"]["changed"] == 1  # re-extracted, with Tesseract or (absent) none
    after = second.library.store.file_records()[str(png)].extractor_version
    assert after != before and ("+ocr-tesseract-" in after or after.endswith("+no-ocr"))


def test_ocr_engine_setting_is_checked() -> None:
    with pytest.raises(WorkbenchError, match='ocr_engine must be "auto", "rapidocr" or'):
        Settings(ocr_engine="paddle").validate()
    assert (
        Settings.load(Path("/nonexistent.toml"), {"WORKBENCH_OCR_ENGINE": "rapidocr"}).ocr_engine
        == "rapidocr"
    )


def line(text: str, left: int, top: int, right: int, height: int = 20, slant: int = 0) -> Line:
    """A line whose right end sits ``slant`` px lower than its left (a skewed scan)."""
    bottom = top + height + slant
    return Line(text, 0.9, (left, top, right, bottom), height, top + (height + slant) / 2)


def test_lines_group_into_paragraphs_per_column_and_under_skew() -> None:
    columns = [
        line("Left one", 0, 0, 300),
        line("Right one", 400, 0, 700),
        line("Left two", 0, 28, 300),
        line("Right two", 400, 28, 700),
        line("Left after a gap", 0, 120, 300),
    ]
    grouped = [[ln.text for ln in p.lines] for p in paragraphs(columns)]
    assert grouped == [["Left one", "Left two"], ["Right one", "Right two"], ["Left after a gap"]]
    # Tilted lines' boxes overlap the next line's: the order still holds, none is skipped.
    skewed = [line(f"Line {n}", 0, 28 * n, 900, slant=50) for n in range(4)]
    (paragraph,) = paragraphs(skewed)
    assert [ln.text for ln in paragraph.lines] == ["Line 0", "Line 1", "Line 2", "Line 3"]
