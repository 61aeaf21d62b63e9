"""Optical character recognition: the words in page images, as paragraphs with their boxes.

Two engines behind one interface. RapidOCR (workbench.core.extraction.rapid_ocr) ships its models in
its wheel and reads English and Chinese; Tesseract (workbench.core.extraction.tesseract) is a system
program that reads any language whose data is installed. ``ocr_engine = "auto"`` takes the
engine that read best in bench/ocr_engines.py, among those installed that read
``ocr_language``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Protocol

from workbench.core import telemetry
from workbench.core.extraction.documents import Block, EngineStatus

# Part of every reason recorded for a file that needed OCR when no engine was there; the
# coverage report finds the affected files by it.
NO_OCR_ENGINE = "no OCR engine is available"
ROLE = "OCR for scanned PDF pages and images"
ENGINE_CHOICES = ("auto", "rapidocr", "tesseract")
# Best first, by bench/ocr_engines.py (figures in the README): on upright pages, scans and
# screenshots Tesseract found 99% of the words at 1.3 CPU s a page, RapidOCR 87% at 4.1 s.
# RapidOCR reads pages turned 90/180 degrees and noisy photos better: set it for those.
MEASURED_BEST_FIRST = ("tesseract", "rapidocr")
RAPIDOCR_LANGUAGES = frozenset({"eng"})  # its bundled models read English (and Chinese)


class OcrEngine(Protocol):
    """One OCR engine; ``read`` may be called from several threads at once."""

    name: str

    @property
    def status(self) -> EngineStatus: ...

    @property
    def version(self) -> str:
        """Engine and version (and language where it matters), e.g. "rapidocr-1.4.4"."""
        ...

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Held while a batch of pages is read (Tesseract limits its threads in it)."""
        ...

    def read(self, image: Any, page: int | None) -> list[Block]: ...


def make_engines(language: str) -> dict[str, OcrEngine]:
    from workbench.core.extraction.rapid_ocr import RapidOcrEngine
    from workbench.core.extraction.tesseract import TesseractEngine

    return {"rapidocr": RapidOcrEngine(), "tesseract": TesseractEngine(language)}


class Ocr:
    """The OCR engine chosen by ``engine`` ("auto", "rapidocr" or "tesseract") for a language."""

    def __init__(self, language: str = "eng", engine: str = "auto") -> None:
        self.language = language
        self.choice = engine
        self.engines = make_engines(language)

    @functools.cached_property
    def engine(self) -> OcrEngine:
        """The chosen engine; for "auto" the best installed one that reads the language."""
        if self.choice != "auto":
            return self.engines[self.choice]
        candidates = [
            self.engines[name]
            for name in MEASURED_BEST_FIRST
            if name != "rapidocr" or self.language in RAPIDOCR_LANGUAGES
        ]
        return next((e for e in candidates if e.status.available), candidates[0])

    @property
    def status(self) -> EngineStatus:
        return self.engine.status

    def statuses(self) -> list[EngineStatus]:
        """For `workbench doctor`: the chosen engine, then the others that are installed.

        An engine not in use is no problem when absent, so it is only listed when present;
        it claims no files (no marker), as switching to it is a choice, not a fix.
        """
        others = [
            replace(e.status, role=f"other OCR engine, not in use (ocr_engine = {e.name!r})",
                    marker="")
            for e in self.engines.values()
            if e is not self.engine and e.status.available
        ]  # fmt: skip
        return [self.status, *others]

    @property
    def available(self) -> bool:
        return self.status.available

    @property
    def version_tag(self) -> str:
        """Part of an extractor's version: installing or switching the engine re-extracts."""
        return f"ocr-{self.engine.version}" if self.available else "no-ocr"

    def missing_reason(self, what: str) -> str:
        """Why ``what`` was not read: names the missing engine and what to install."""
        status = self.status
        fix = status.install
        if self.engine.name == "tesseract" and self.engines["rapidocr"].status.available:
            if self.choice == "tesseract":
                fix += '; or set ocr_engine = "auto" to use the bundled RapidOCR'
            elif self.language not in RAPIDOCR_LANGUAGES:
                fix += (
                    f'; RapidOCR (bundled) reads only ocr_language = "eng", not {self.language!r}'
                )
        return f"{what} needs OCR, but {NO_OCR_ENGINE} ({status.name}: {status.detail}): {fix}"

    def read(self, image: Any, page: int | None = None) -> list[Block]:
        """Paragraphs of text in a PIL image, each with its box in the image's pixels."""
        with self.engine.batch():
            return read_page(self.engine, image, page)

    def read_pages(self, pages: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, list[Block]]]:
        """(page number, paragraphs) for each (page number, image), in order.

        Pages are read one per core at a time, each engine single-threaded; ``pages`` is
        consumed lazily, so only a few rendered pages are held in memory.
        """
        workers = max(1, os.cpu_count() or 1)
        engine = self.engine
        read = telemetry.in_context(read_page)  # each page's span under the file's
        with engine.batch(), ThreadPoolExecutor(workers) as pool:
            running: deque[tuple[int, Future[list[Block]]]] = deque()
            for number, image in pages:
                running.append((number, pool.submit(read, engine, image, number)))
                if len(running) > workers:
                    done, future = running.popleft()
                    yield done, future.result()
            while running:
                done, future = running.popleft()
                yield done, future.result()


def read_page(engine: OcrEngine, image: Any, page: int | None) -> list[Block]:
    """``engine.read`` of one page or image, as an ``ocr page`` span and in the OCR metrics."""
    labels = {"workbench.ocr.engine": engine.name}
    watch = telemetry.Stopwatch()
    with telemetry.span("ocr page", labels | {"workbench.ocr.page": page or 0}) as current:
        blocks = engine.read(image, page)
        if current.is_recording():
            current.set_attribute("workbench.ocr.blocks", len(blocks))
    telemetry.OCR_PAGES.add(1, labels)
    telemetry.OCR_DURATION.record(watch.seconds, labels)
    return blocks


def on_white(image: Any) -> Any:
    """The image with any transparency flattened onto white (OCR reads dark on light)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, "white")
        return Image.alpha_composite(background, rgba)
    return image
