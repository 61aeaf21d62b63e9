"""Optical character recognition with Tesseract (through pytesseract).

Reads the words in a page image as paragraphs, each with the box it was read from. Words
Tesseract is unsure of are dropped, so a photo without text yields nothing rather than noise.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from workbench.core.documents import Block, EngineStatus, ExtractionError

TESSERACT_INSTALL = (
    "install Tesseract (Debian/Ubuntu: `apt install tesseract-ocr`, macOS: "
    "`brew install tesseract`, Windows: the UB Mannheim installer)"
)
# Part of every reason recorded for a file that needed OCR when no engine was there; the
# coverage report finds the affected files by it.
NO_OCR_ENGINE = "no OCR engine is available"
MIN_WORD_CONFIDENCE = 40  # Tesseract's 0-100 scale; below this it is mostly guessing
SMALL_IMAGE_PX = 1200  # images smaller than this on their long side are upscaled 2x
LARGE_IMAGE_PX = 5000  # and larger ones downscaled: Tesseract time grows with pixels
PAGE_TIMEOUT_S = 180


@functools.lru_cache(maxsize=8)
def tesseract_status(language: str) -> EngineStatus:
    """Tesseract's version and whether every part of ``language`` ("eng+deu") is installed."""
    role = "OCR for scanned PDF pages and images"
    command = shutil.which("tesseract")
    if command is None:
        return EngineStatus(
            "tesseract", role, False, "the `tesseract` program is not on PATH",
            TESSERACT_INSTALL, NO_OCR_ENGINE,
        )  # fmt: skip
    try:
        version = _run([command, "--version"]).splitlines()[0].split()[-1]
        listed = _run([command, "--list-langs"]).splitlines()[1:]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return EngineStatus(
            "tesseract", role, False, f"`tesseract` does not run: {exc}",
            TESSERACT_INSTALL, NO_OCR_ENGINE,
        )  # fmt: skip
    installed = {name.strip() for name in listed if name.strip()}
    missing = [part for part in language.split("+") if part not in installed]
    if missing:
        packages = " ".join(f"tesseract-ocr-{part}" for part in missing)
        return EngineStatus(
            "tesseract", role, False,
            f"tesseract {version} lacks language data for {', '.join(missing)} "
            f"(installed: {', '.join(sorted(installed)) or 'none'})",
            f"install the language data (Debian/Ubuntu: `apt install {packages}`) or set "
            "ocr_language to an installed one",
            NO_OCR_ENGINE,
        )  # fmt: skip
    return EngineStatus(
        "tesseract", role, True, f"tesseract {version}, language {language}", "", NO_OCR_ENGINE
    )


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout or done.stderr  # old versions print --version on stderr


class Ocr:
    """Tesseract for one language setting."""

    def __init__(self, language: str = "eng") -> None:
        self.language = language

    @property
    def status(self) -> EngineStatus:
        return tesseract_status(self.language)

    @property
    def available(self) -> bool:
        return self.status.available

    @property
    def version_tag(self) -> str:
        """Part of an extractor's version: installing Tesseract or a language re-extracts."""
        return f"ocr-{self.language}" if self.available else "no-ocr"

    def missing_reason(self, what: str) -> str:
        """Why ``what`` was not read: names the missing engine and what to install."""
        return (
            f"{what} needs OCR, but {NO_OCR_ENGINE} ({self.status.detail}): {self.status.install}"
        )

    def read(self, image: Any, page: int | None = None) -> list[Block]:
        """Paragraphs of text in a PIL image, each with its box in the image's pixels."""
        with one_thread_per_tesseract():
            return self._read(image, page)

    def read_pages(self, pages: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, list[Block]]]:
        """(page number, paragraphs) for each (page number, image), in order.

        Pages are read by one Tesseract process per core at a time; ``pages`` is consumed
        lazily, so only a few rendered pages are held in memory.
        """
        workers = max(1, os.cpu_count() or 1)
        with one_thread_per_tesseract(), ThreadPoolExecutor(workers) as pool:
            running: deque[tuple[int, Future[list[Block]]]] = deque()
            for number, image in pages:
                running.append((number, pool.submit(self._read, image, number)))
                if len(running) > workers:
                    done, future = running.popleft()
                    yield done, future.result()
            while running:
                done, future = running.popleft()
                yield done, future.result()

    def _read(self, image: Any, page: int | None) -> list[Block]:
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

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, "white")
        image = Image.alpha_composite(background, rgba)
    grey = image.convert("L")
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
