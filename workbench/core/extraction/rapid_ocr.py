"""The RapidOCR engine: PP-OCRv4 ONNX models shipped inside the rapidocr-onnxruntime wheel.

Runs on the onnxruntime the embedder already uses, so OCR works from PyPI alone (nothing is
downloaded at run time). The bundled models read English and Chinese; other languages need
Tesseract. Lines it is unsure of are dropped, so a photo without text yields nothing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.extraction.documents import Block, EngineStatus, ExtractionError
from workbench.core.extraction.ocr import NO_OCR_ENGINE, ROLE, on_white

PACKAGE = "rapidocr_onnxruntime"
DISTRIBUTION = "rapidocr-onnxruntime"
MODEL_FILES = (
    "ch_PP-OCRv4_det_infer.onnx",
    "ch_PP-OCRv4_rec_infer.onnx",
    "ch_ppocr_mobile_v2.0_cls_infer.onnx",
)
RAPIDOCR_INSTALL = (
    "install it with `pip install rapidocr-onnxruntime opencv-python-headless` (a checkout's "
    "`uv sync` includes both)"
)
MIN_LINE_SCORE = 0.6  # recogniser confidence (0-1) per line; below it, mostly noise or guesses
# Tuned on bench/ocr_engines.py pages. Images are shrunk to MAX_SIDE_PX on their long side:
# detection's memory and time grow with pixels (an A4 page at 200 dpi, 2339 px, peaked at
# 1.25 GB; at 1600 px 0.8 GB, a third less CPU, and the same words but in 7 pt text: 80%, not
# 84%). Boxes are widened more than RapidOCR's 1.6: on tight boxes the recogniser runs
# English words together ("ofthe"). One line per recogniser call: batches pad every line to
# the longest and took 1.3-2x the CPU.
MAX_SIDE_PX = 1600
BOX_UNCLIP_RATIO = 2.0
PARAGRAPH_GAP = 0.8  # a line this many line heights or less below another continues it


@functools.lru_cache(maxsize=1)
def rapidocr_status() -> EngineStatus:
    """Whether the package, its bundled models and OpenCV are there and load."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return _missing("the rapidocr-onnxruntime package is not installed", RAPIDOCR_INSTALL)
    models = Path(spec.origin).parent / "models"
    absent = [name for name in MODEL_FILES if not (models / name).is_file()]
    if absent:
        return _missing(
            f"rapidocr-onnxruntime lacks its bundled models ({', '.join(absent)})",
            f"reinstall it: `pip install --force-reinstall {DISTRIBUTION}`",
        )
    try:
        import cv2  # noqa: F401  (plain opencv-python fails here without libGL)
    except (ImportError, OSError) as exc:
        return _missing(
            f"OpenCV (cv2) does not load: {exc}",
            "install opencv-python-headless in place of opencv-python (`pip uninstall "
            "opencv-python && pip install opencv-python-headless`)",
        )
    return EngineStatus(
        "rapidocr", ROLE, True,
        f"rapidocr-onnxruntime {rapidocr_version()}, bundled PP-OCRv4 models (English, Chinese)",
        "", NO_OCR_ENGINE,
    )  # fmt: skip


def rapidocr_version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def _missing(detail: str, install: str) -> EngineStatus:
    return EngineStatus("rapidocr", ROLE, False, detail, install, NO_OCR_ENGINE)


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    """The models, loaded once per process (about 0.7 s) and shared by the OCR threads.

    One thread per session and no inter-op pool: pages are read in parallel instead, and an
    onnxruntime pool would spin against the embedder and the chat model on a small machine.
    """
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(
        intra_op_num_threads=1,
        inter_op_num_threads=1,
        max_side_len=MAX_SIDE_PX,
        text_score=MIN_LINE_SCORE,
        det_unclip_ratio=BOX_UNCLIP_RATIO,
        rec_batch_num=1,
    )


class RapidOcrEngine:
    """RapidOCR with its bundled models; the language setting does not apply."""

    name = "rapidocr"

    @property
    def status(self) -> EngineStatus:
        return rapidocr_status()

    @property
    def version(self) -> str:
        return f"rapidocr-{rapidocr_version()}"

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def read(self, image: Any, page: int | None) -> list[Block]:
        """Paragraphs of text in a PIL image, each with its box in the image's pixels."""
        import numpy as np

        pixels = np.asarray(on_white(image).convert("RGB"))[:, :, ::-1]  # OpenCV wants BGR
        try:
            found, _ = _model()(np.ascontiguousarray(pixels))
        except Exception as exc:  # onnxruntime and OpenCV raise their own error types
            raise ExtractionError(f"RapidOCR failed: {exc}") from exc
        lines = [_line(box, text, score) for box, text, score in found or []]
        kept = [line for line in lines if line.score >= MIN_LINE_SCORE and _wordy(line.text)]
        return [paragraph.block(page) for paragraph in paragraphs(kept)]


@dataclass
class Line:
    """One line of text as RapidOCR read it: its axis-aligned box, height and middle."""

    text: str
    score: float
    box: tuple[int, int, int, int]
    height: float  # along the line's own slant, so a skewed line is not taken as tall
    middle: float  # y of its centre

    def beside(self, other: Line) -> bool:
        """Whether the two lines share some horizontal extent."""
        return self.box[0] < other.box[2] and other.box[0] < self.box[2]


@dataclass
class Paragraph:
    lines: list[Line]

    def block(self, page: int | None) -> Block:
        boxes = [line.box for line in self.lines]
        region = (
            min(box[0] for box in boxes),
            min(box[1] for box in boxes),
            max(box[2] for box in boxes),
            max(box[3] for box in boxes),
        )
        return Block("\n".join(line.text for line in self.lines), page=page, region=region)

    def continues_with(self, line: Line) -> bool:
        """Whether ``line`` is the next line down, no further than a normal line spacing."""
        step = line.middle - self.lines[-1].middle
        return 0.5 * line.height < step <= (1 + PARAGRAPH_GAP) * line.height


def paragraphs(lines: Iterable[Line]) -> list[Paragraph]:
    """Lines (top to bottom) grouped into paragraphs; side-by-side columns stay apart.

    A line can only continue the latest paragraph above it that it overlaps: never one
    further up, past a line in between.
    """
    found: list[Paragraph] = []
    for line in lines:
        above = next((p for p in reversed(found) if p.lines[-1].beside(line)), None)
        if above is not None and above.continues_with(line):
            above.lines.append(line)
        else:
            found.append(Paragraph([line]))
    return found


def _line(quad: Sequence[Sequence[float]], text: str, score: float) -> Line:
    """A line from RapidOCR's corner points: top-left, top-right, bottom-right, bottom-left."""
    xs = [point[0] for point in quad]
    ys = [point[1] for point in quad]
    box = (round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys)))
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = (tuple(point[:2]) for point in quad)
    height = (math.dist((x0, y0), (x3, y3)) + math.dist((x1, y1), (x2, y2))) / 2
    return Line(str(text).strip(), float(score), box, height, (y0 + y1 + y2 + y3) / 4)


def _wordy(text: str) -> bool:
    """At least two letters or digits: single marks are speckles read as characters."""
    return sum(character.isalnum() for character in text) >= 2
