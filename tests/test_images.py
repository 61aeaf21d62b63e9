"""Images: found by the words in them and by their EXIF details; thumbnails are cached."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from filemakers import photo_jpeg, word_png, words_image
from PIL import Image

from workbench.presentation import format_locator
from workbench.workbench import Workbench

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="checks Tesseract itself: install it with `apt install tesseract-ocr`",
)


def test_png_is_found_by_the_words_in_it(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    png = word_png(folder / "screenshot.png", ["Invoice 4471 from Marigold Bakery", "Total 318"])
    workbench.add_folder(folder)
    assert workbench.ingest().as_json()["files"]["new"] == 1
    hit = workbench.search("Marigold Bakery invoice", k=1)[0]
    assert (hit.path, hit.kind) == (str(png), "image")
    assert "Invoice 4471 from Marigold Bakery" in hit.text
    left, top, right, bottom = hit.locator["region"]  # where in the picture the words are
    width, height = Image.open(png).size
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    assert format_locator(hit.locator).startswith("region ")
    record = workbench.library.store.file_records()[str(png)]
    details = json.loads(record.meta)
    assert (details["width"], details["height"]) == (width, height)
    thumbnail = Path(details["thumbnail"])
    assert thumbnail.is_file() and thumbnail.is_relative_to(workbench.paths.cache_dir)
    assert max(Image.open(thumbnail).size) <= 256


def test_photo_exif_is_searchable_and_wordless_photo_is_reported(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    jpeg = photo_jpeg(folder / "IMG_2041.jpg")
    workbench.add_folder(folder)
    workbench.ingest()
    hit = workbench.search("Canon EOS 80D", k=1, mode="text")[0]
    assert hit.path == str(jpeg) and hit.locator == {"heading": "Image details"}
    assert "taken 2023-05-01 14:22:10" in hit.text and "GPS 48.85823, 2.29453" in hit.text
    details = json.loads(workbench.library.store.file_records()[str(jpeg)].meta)
    assert details["camera"] == "Canon EOS 80D" and details["gps"] == [48.858233, 2.294533]
    assert details["text_chars"] == 0
    no_text = workbench.doctor().as_json()["no_text"]
    assert [row["path"] for row in no_text] == [str(jpeg)]


def test_multipage_tiff_pages_are_located(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "fax"
    folder.mkdir()
    pages = [
        words_image(["Fax cover sheet for the tannery."]),
        words_image(["Delivery of ox hides."]),
    ]
    tiff = folder / "fax.tiff"
    pages[0].save(tiff, save_all=True, append_images=pages[1:], compression="tiff_deflate")
    workbench.add_folder(folder)
    workbench.ingest()
    hit = workbench.search("ox hides delivery", k=1)[0]
    assert hit.path == str(tiff) and hit.locator["page"] == 2


def test_extractor_settings_come_from_config(make_workbench: Any, workbench_home: Path) -> None:
    workbench = make_workbench(ocr_language="eng+zzz", ocr_max_pages=7)
    doctor = workbench.doctor().as_json()
    expected = {"ocr_engine": "auto", "ocr_language": "eng+zzz", "ocr_max_pages": 7}
    assert doctor["settings"] == expected
    # "auto" hands a language the bundled RapidOCR lacks to Tesseract, which lacks "zzz" too.
    tesseract = next(e for e in doctor["engines"] if e["name"] == "tesseract")
    assert not tesseract["available"]


@needs_tesseract
def test_missing_tesseract_language_names_its_package(make_workbench: Any) -> None:
    doctor = make_workbench(ocr_language="eng+zzz").doctor().as_json()
    tesseract = next(e for e in doctor["engines"] if e["name"] == "tesseract")
    assert not tesseract["available"] and "zzz" in tesseract["detail"]
    assert "tesseract-ocr-zzz" in tesseract["install"]
