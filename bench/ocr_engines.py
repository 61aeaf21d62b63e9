"""OCR engines side by side: word accuracy and pages/s on pages rendered from known text.

    uv run python bench/ocr_engines.py [--pages 2]

Renders pages with Pillow from known text (SciFact abstracts when ../shared/eval/scifact is
there, else a built-in passage): an 11 pt page at 200 dpi (what the PDF extractor renders),
7 pt text, a screenshot, the page turned 90 and 180 degrees, skewed 3 degrees, and a
photo-like page (uneven light, blur, noise, JPEG). Each installed engine reads the same
pages through the shipped `Ocr` class (pages in parallel, one per core), in the same run.

Measures, per engine and page type, then over the upright types (prints, scans, screenshots:
most of a library) and over all: words found (reference words recovered, in any order), words
in order (longest common word sequence over reference words), precision (output words that
are real), pages/s (wall clock) and CPU seconds per page. Prints a table and writes
bench/results/ocr_engines.json.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import resource
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import SCIFACT

from workbench.core.extraction.ocr import Ocr

DPI = 200
A4 = (round(8.27 * DPI), round(11.69 * DPI))
MARGIN = round(0.8 * DPI)
FONTS = Path("/usr/share/fonts/truetype/dejavu")
RESULTS = Path(__file__).resolve().parent / "results" / "ocr_engines.json"
FALLBACK_TEXT = (
    "The lighthouse keeper logged forty ships in the storm of March 1887, among them a "
    "schooner carrying salt cod from Newfoundland and two steamers bound for Liverpool. "
    "Warnings reached the harbour master on Tuesday; the ferry timetable changed that winter. "
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=2, help="pages per page type")
    args = parser.parse_args()
    texts = source_texts(args.pages * len(PAGE_TYPES))
    engines = available_engines()
    results: dict[str, dict[str, Any]] = {name: {} for name in engines}
    for index, (kind, render) in enumerate(PAGE_TYPES.items()):
        pages = [render(texts.pop()) for _ in range(args.pages)]
        order = list(engines) if index % 2 == 0 else list(reversed(engines))
        for name in order:  # alternate who goes first: load from other jobs hits both alike
            results[name][kind] = measure(engines[name], pages)
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "engines": {name: ocr.engine.version for name, ocr in engines.items()},
        "pages_per_type": args.pages,
        "results": results,
        "upright": {name: overall(upright(rows)) for name, rows in results.items()},
        "overall": {name: overall(rows) for name, rows in results.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print_table(report)
    print(f"\nwritten to {RESULTS}")


def available_engines() -> dict[str, Ocr]:
    engines = {}
    for name in ("rapidocr", "tesseract"):
        ocr = Ocr("eng", name)
        if ocr.available:
            engines[name] = ocr
        else:
            print(f"{name}: not measured ({ocr.status.detail})")
    if not engines:
        raise SystemExit("no OCR engine is installed")
    return engines


# -- pages -------------------------------------------------------------------------------------


@dataclass
class Page:
    """A rendered page and the words drawn on it, in reading order."""

    image: Any
    words: list[str]


def source_texts(count: int) -> list[str]:
    """``count`` distinct passages of real prose, about a page of 11 pt text each."""
    corpus = SCIFACT / "corpus.jsonl"
    if not corpus.is_file():
        return [FALLBACK_TEXT * 6 for _ in range(count)]
    abstracts = []
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["text"]
            if text.isascii() and len(text) > 800:
                abstracts.append(text)
            if len(abstracts) >= count * 2:
                break
    return [f"{abstracts[2 * i]} {abstracts[2 * i + 1]}"[:2600] for i in range(count)]


def font(size: int, serif: bool = True) -> Any:
    from PIL import ImageFont

    path = FONTS / ("DejaVuSerif.ttf" if serif else "DejaVuSans.ttf")
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)  # Pillow's own font, where DejaVu is absent


def text_page(text: str, points: float, serif: bool = True, size: tuple[int, int] = A4) -> Page:
    """Black text on a white page, wrapped to the margins; keeps the words it drew."""
    from PIL import Image, ImageDraw

    pixels = round(points * DPI / 72)
    face = font(pixels, serif)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    width = size[0] - 2 * MARGIN
    columns = max(20, int(width / draw.textlength("abcdefghij", font=face) * 10))
    drawn: list[str] = []
    top = MARGIN
    for line in textwrap.wrap(text, width=columns):
        if top + pixels > size[1] - MARGIN:
            break
        draw.text((MARGIN, top), line, fill="black", font=face)
        drawn.extend(line.split())
        top += round(pixels * 1.45)
    return Page(image, drawn)


def normal(text: str) -> Page:
    return text_page(text, 11)


def small(text: str) -> Page:
    return text_page(text, 7, serif=False)


def screenshot(text: str) -> Page:
    """Screen text: 15 px sans on a 1280 x 800 window (96 dpi, no print resolution)."""
    return text_page(text, 15 * 72 / DPI, serif=False, size=(1280, 800))


def turned(degrees: int) -> Callable[[str], Page]:
    def render(text: str) -> Page:
        page = normal(text)
        return Page(page.image.rotate(degrees, expand=True, fillcolor="white"), page.words)

    return render


def photo(text: str) -> Page:
    """A phone photo of a page: tilted, unevenly lit, soft, noisy and JPEG-compressed."""
    import io

    import numpy as np
    from PIL import Image, ImageFilter

    page = normal(text)
    image = page.image.rotate(2, expand=True, fillcolor="white", resample=Image.Resampling.BICUBIC)
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    height, width = grey.shape
    light = np.linspace(0.95, 0.6, width)[None, :] * np.linspace(1.0, 0.8, height)[:, None]
    grey = 40 + grey * light * 0.8  # lower contrast, a shadow across the page
    rng = np.random.default_rng(len(page.words))
    grey += rng.normal(0, 14, grey.shape)
    noisy = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    soft = noisy.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")
    buffer = io.BytesIO()
    soft.save(buffer, "JPEG", quality=55)
    return Page(Image.open(buffer), page.words)


PAGE_TYPES: dict[str, Callable[[str], Page]] = {
    "11pt page": normal,
    "7pt page": small,
    "screenshot": screenshot,
    "turned 90": turned(90),
    "turned 180": turned(180),
    "skewed 3": turned(3),
    "photo": photo,
}

UPRIGHT = ("11pt page", "7pt page", "screenshot", "skewed 3")


# -- measuring ---------------------------------------------------------------------------------


def measure(ocr: Ocr, pages: list[Page]) -> dict[str, float]:
    """Accuracy and speed of one engine over ``pages``, read as the extractors read them."""
    ocr.read(pages[0].image.resize((64, 64)))  # load models outside the timing
    cpu, started = cpu_seconds(), time.perf_counter()
    read = dict(ocr.read_pages((number, page.image) for number, page in enumerate(pages)))
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    scores = [
        accuracy(page.words, "\n".join(block.text for block in read[number]).split())
        for number, page in enumerate(pages)
    ]
    return {
        key: round(sum(score[key] for score in scores) / len(scores), 3) for key in scores[0]
    } | {"pages_per_s": round(len(pages) / wall, 3), "cpu_s_per_page": round(cpu / len(pages), 2)}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the tesseract processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def words_of(tokens: list[str]) -> list[str]:
    found = ["".join(c for c in token.lower() if c.isalnum()) for token in tokens]
    return [word for word in found if word]


def accuracy(reference: list[str], output: list[str]) -> dict[str, float]:
    expected, got = words_of(reference), words_of(output)
    common = sum((Counter(expected) & Counter(got)).values())
    matcher = difflib.SequenceMatcher(None, expected, got, autojunk=False)
    in_order = sum(block.size for block in matcher.get_matching_blocks())
    return {
        "words_found": common / max(1, len(expected)),
        "words_in_order": in_order / max(1, len(expected)),
        "precision": common / max(1, len(got)),
    }


def upright(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The page types most of a library is: upright prints, scans and screenshots."""
    return {kind: row for kind, row in rows.items() if kind in UPRIGHT}


def overall(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each page type counts once; pages/s over all pages."""
    mean = {
        key: round(sum(row[key] for row in rows.values()) / len(rows), 3)
        for key in ("words_found", "words_in_order", "precision", "cpu_s_per_page")
    }
    seconds = sum(1 / row["pages_per_s"] for row in rows.values())
    return mean | {"pages_per_s": round(len(rows) / seconds, 3)}


def print_table(report: dict[str, Any]) -> None:
    names = list(report["results"])
    print(f"\n{report['pages_per_type']} pages per type; {report['machine']['cpus']} CPUs")
    header = "page type    " + "".join(f"| {name:<40}" for name in names)
    print(header)
    print("             " + "| found  order  prec.  pages/s cpu s/page  " * len(names))
    kinds = [*next(iter(report["results"].values())), "upright", "overall"]
    for kind in kinds:
        cells = []
        for name in names:
            summed = kind in ("upright", "overall")
            row = report[kind][name] if summed else report["results"][name][kind]
            cells.append(
                f"| {row['words_found']:.3f}  {row['words_in_order']:.3f}  "
                f"{row['precision']:.3f}  {row['pages_per_s']:<7.3f} {row['cpu_s_per_page']:<11.2f}"
            )
        print(f"{kind:<13}" + "".join(cells))


if __name__ == "__main__":
    main()
