"""The Tesseract OCR engine (the `tesseract` program, through pytesseract).

Reads many languages, given their language data. Words Tesseract is unsure of are dropped, so
a photo without text yields nothing rather than noise.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from typing import Any

from workbench.core.extraction.documents import Block, EngineStatus, ExtractionError
from workbench.core.extraction.ocr import NO_OCR_ENGINE, ROLE, on_white

TESSERACT_INSTALL = (
    "install Tesseract (Debian/Ubuntu: `apt install tesseract-ocr`, macOS: "
    "`brew install tesseract`, Windows: the UB Mannheim installer)"
)
MIN_WORD_CONFIDENCE = 40  # Tesseract's 0-100 scale; below this it is mostly guessing
SMALL_IMAGE_PX = 1200  # images smaller than this on their long side are upscaled 2x
LARGE_IMAGE_PX = 5000  # and larger ones downscaled: Tesseract time grows with pixels
PAGE_TIMEOUT_S = 180


@functools.lru_cache(maxsize=8)
def tesseract_status(language: str) -> EngineStatus:
    """Tesseract's version and whether every part of ``language`` ("eng+deu") is installed."""
    command = shutil.which("tesseract")
    if command is None:
        return _missing("the `tesseract` program is not on PATH", TESSERACT_INSTALL)
    try:
        version = tesseract_version(command)
        listed = _run([command, "--list-langs"]).splitlines()[1:]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return _missing(f"`tesseract` does not run: {exc}", TESSERACT_INSTALL)
    installed = {name.strip() for name in listed if name.strip()}
    missing = [part for part in language.split("+") if part not in installed]
    if missing:
        packages = " ".join(f"tesseract-ocr-{part}" for part in missing)
        return _missing(
            f"tesseract {version} lacks language data for {', '.join(missing)} "
            f"(installed: {', '.join(sorted(installed)) or 'none'})",
            f"install the language data (Debian/Ubuntu: `apt install {packages}`) or set "
            "ocr_language to an installed one",
        )
    return EngineStatus(
        "tesseract", ROLE, True, f"tesseract {version}, language {language}", "", NO_OCR_ENGINE
    )


@functools.lru_cache(maxsize=4)
def tesseract_version(command: str) -> str:
    """``tesseract --version``'s number, e.g. "5.3.0"."""
    return _run([command, "--version"]).splitlines()[0].split()[-1]


def _missing(detail: str, install: str) -> EngineStatus:
    return EngineStatus("tesseract", ROLE, False, detail, install, NO_OCR_ENGINE)


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout or done.stderr  # old versions print --version on stderr


class TesseractEngine:
    """Tesseract for one language setting."""

    name = "tesseract"

    def __init__(self, language: str = "eng") -> None:
        self.language = language

    @property
    def status(self) -> EngineStatus:
        return tesseract_status(self.language)

    @property
    def version(self) -> str:
        """Engine, version and language, e.g. "tesseract-5.3.0-eng" (only when available)."""
        command = shutil.which("tesseract") or "tesseract"
        return f"tesseract-{tesseract_version(command)}-{self.language}"

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return one_thread_per_tesseract()

    def read(self, image: Any, page: int | None) -> list[Block]:
        """Paragraphs of text in a PIL image, each with its box in the image's pixels."""
        import pytesseract

        prepared, scale = _prepare(image)
        try:
            data = pytesseract.image_to_data(
                prepared,
                lang=self.language,
                output_type=pytesseract.Output.DICT,
                timeout=PAGE_TIMEOUT_S,
            )
        except RuntimeError as exc:  # pytesseract's timeout
            raise ExtractionError(f"OCR gave up after {PAGE_TIMEOUT_S} s: {exc}") from exc
        except pytesseract.TesseractError as exc:
            raise ExtractionError(f"Tesseract failed: {exc.message or exc}") from exc
        return list(_paragraphs(data, scale, page))


@contextlib.contextmanager
def one_thread_per_tesseract() -> Iterator[None]:
    """Run Tesseract single-threaded (OMP_THREAD_LIMIT=1) unless the user chose otherwise.

    Its OpenMP threads spin against each other on small machines: a page took 3.3 s with
    them and 0.7 s without on 2 cores. Pages are run in parallel instead, as OCRmyPDF does.
    """
    if "OMP_THREAD_LIMIT" in os.environ:
        yield
        return
    os.environ["OMP_THREAD_LIMIT"] = "1"  # read by the tesseract processes started meanwhile
    try:
        yield
    finally:
        os.environ.pop("OMP_THREAD_LIMIT", None)


def _prepare(image: Any) -> tuple[Any, float]:
    """Grey-scale on white, resized into the range Tesseract reads best; returns the scale."""
    from PIL import Image

    grey = on_white(image).convert("L")
    longest = max(grey.size)
    scale = 1.0
    if longest < SMALL_IMAGE_PX:
        scale = 2.0
    elif longest > LARGE_IMAGE_PX:
        scale = LARGE_IMAGE_PX / longest
    if scale != 1.0:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.LANCZOS)
    return grey, scale


def _paragraphs(data: dict[str, list[Any]], scale: float, page: int | None) -> Iterable[Block]:
    """Words grouped into Tesseract's paragraphs and lines; unsure words dropped."""
    paragraphs: dict[tuple[int, int], dict[int, list[int]]] = {}
    for index, word in enumerate(data["text"]):
        if not str(word).strip() or float(data["conf"][index]) < MIN_WORD_CONFIDENCE:
            continue
        key = (data["block_num"][index], data["par_num"][index])
        paragraphs.setdefault(key, {}).setdefault(data["line_num"][index], []).append(index)
    for lines in paragraphs.values():
        words = [i for line in lines.values() for i in line]
        text = "\n".join(" ".join(str(data["text"][i]) for i in line) for line in lines.values())
        if not any(character.isalnum() for character in text):
            continue
        left = min(data["left"][i] for i in words)
        top = min(data["top"][i] for i in words)
        right = max(data["left"][i] + data["width"][i] for i in words)
        bottom = max(data["top"][i] + data["height"][i] for i in words)
        box = (round(left / scale), round(top / scale), round(right / scale), round(bottom / scale))
        yield Block(text, page=page, region=box)
