"""PDFs, page by page: the text layer where there is one, OCR where there is not.

pypdf reads the text layer; pdfminer.six takes over for a page (or a whole file) pypdf
cannot read. A page without usable text is rendered with pypdfium2 and OCR'd, so scans and
mixed documents are searchable; every block carries its 1-based page number.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.core.extraction.documents import (
    Block,
    EngineStatus,
    Extraction,
    ExtractionError,
    SkipFile,
)
from workbench.core.extraction.extractors import paragraphs
from workbench.core.extraction.ocr import Ocr
from workbench.core.extraction.unpacking import (
    MAX_RATIO,
    RATIO_GRACE,
    UNPACKED_LIMIT,
    bomb,
    format_size,
    ratio_bomb,
)
from workbench.paths import Paths

RENDER_DPI = 200  # 10 pt text is ~28 px high: plenty for Tesseract, and fast
MAX_RENDER_PX = 5000  # posters and drawings are rendered smaller
MIN_TEXT_CHARS = 16  # fewer letters and digits than this on a page: a scan (or blank)
# pypdf parses page content at about 1 MB a second (and 30 MB of memory a MB): a page with more
# (a detailed drawing) is read by OCR from its rendering instead, as a scan is.
PAGE_CONTENT_LIMIT = 8 * 2**20

# Damaged files make both parsers log warnings; they are summed up in the file's reason
# instead. NullHandler only stops Python's last-resort printing to stderr.
for _name in ("pypdf", "pdfminer"):
    logging.getLogger(_name).addHandler(logging.NullHandler())


class PdfExtractor:
    """PDF text layer per page, with OCR for pages that have none."""

    name = "pdf"
    kind = "pdf"
    suffixes = frozenset({".pdf"})
    filenames: frozenset[str] = frozenset()
    code_version = "1"

    def __init__(self) -> None:
        self.ocr = Ocr()
        self.max_ocr_pages = 100

    def configure(self, settings: Settings, paths: Paths) -> None:
        self.ocr = Ocr(settings.ocr_language, settings.ocr_engine)
        self.max_ocr_pages = settings.ocr_max_pages

    def engines(self) -> list[EngineStatus]:
        return self.ocr.statuses()

    @property
    def version(self) -> str:
        return f"{self.code_version}+{self.ocr.version_tag}"

    def extract(self, path: Path, data: bytes) -> Extraction:
        check_complete(data)
        texts, metadata = read_text_layer(data)
        blocks: list[Block] = []
        scanned: list[int] = []
        for number, text in enumerate(texts, start=1):
            if text is not None and usable(text):
                blocks.extend(page_blocks(text, number))
            else:
                scanned.append(number)
        metadata["pages"] = len(texts)
        metadata["text_layer_pages"] = len(texts) - len(scanned)
        if scanned:
            blocks.extend(self._ocr_pages(data, scanned, metadata))
        blocks.sort(key=lambda block: block.page or 0)
        metadata["text_chars"] = sum(len(block.text) for block in blocks)
        if not blocks:
            raise self._why_empty(metadata)
        return Extraction(self.kind, blocks, metadata)

    def _ocr_pages(self, data: bytes, pages: list[int], metadata: dict[str, Any]) -> list[Block]:
        if not self.ocr.available:
            metadata["ocr_missing"] = pages
            metadata["missing"] = [self.ocr.status.name]
            return []
        todo, capped = pages[: self.max_ocr_pages], pages[self.max_ocr_pages :]
        if capped:
            metadata["ocr_capped"] = capped
        blocks: list[Block] = []
        blank: list[int] = []

        def inked() -> Iterator[tuple[int, Any]]:
            for number, image in render_pages(data, todo):
                if image is None:
                    blank.append(number)
                else:
                    yield number, image

        for _, page_blocks in self.ocr.read_pages(inked()):
            for block in page_blocks:
                block.region = None  # pixels of our rendering: no use to a reader
                blocks.append(block)
        metadata["ocr_pages"] = [number for number in todo if number not in blank]
        if blank:
            metadata["blank_pages"] = blank
        return blocks

    def _why_empty(self, metadata: dict[str, Any]) -> Exception:
        pages = metadata["pages"]
        if metadata.get("ocr_missing"):
            return ExtractionError(
                self.ocr.missing_reason(f"scanned PDF ({pages} pages without a text layer)")
            )
        if metadata.get("ocr_capped") and not metadata.get("ocr_pages"):
            return SkipFile(
                f"scanned PDF ({pages} pages) but ocr_max_pages = {self.max_ocr_pages}; raise "
                "it in config.toml to OCR this file"
            )
        if pages == 0:
            return SkipFile("the PDF has no pages")
        return SkipFile(f"no text found on any of its {pages} pages (OCR read nothing)")


def check_complete(data: bytes) -> None:
    """Refuse files that are not PDFs, or that stop before their end-of-file marker."""
    if b"%PDF-" not in data[:1024]:
        raise ExtractionError("not a PDF: the file does not start with a PDF header")
    if b"%%EOF" not in data[-4096:]:
        raise ExtractionError(
            "truncated PDF: the file ends before its end-of-file marker (an interrupted "
            "download or copy?). Fetch or copy it again."
        )


def usable(text: str) -> bool:
    """Whether a page's text layer holds real text (not a page number or glyph junk)."""
    characters = [c for c in text if not c.isspace()]
    letters = sum(c.isalnum() for c in characters)
    return letters >= MIN_TEXT_CHARS and letters >= 0.5 * len(characters)


def page_blocks(text: str, page: int) -> list[Block]:
    return [Block(block.text, page=page) for block in paragraphs(text.splitlines())]


def read_text_layer(data: bytes) -> tuple[list[str | None], dict[str, Any]]:
    """Each page's text (None where it could not be read) and the document's metadata."""
    from pypdf.errors import LimitReachedError

    try:
        return _pypdf_pages(data)
    except ExtractionError:
        raise
    except LimitReachedError as exc:  # no pdfminer for a bomb: it has no such limits
        raise ExtractionError(
            f"a compressed stream in it expands past pypdf's limit for one stream ({_short(exc)}):"
            " this looks like a decompression bomb; it was not read. If the file is genuine, "
            "save it again from its application (or split it) to index it"
        ) from None
    except Exception as pypdf_error:  # any parse failure: let pdfminer try the whole file
        try:
            return list(_pdfminer_pages(data)), {"parser": "pdfminer"}
        except Exception as exc:
            raise ExtractionError(
                f"damaged PDF: pypdf could not read it ({_short(pypdf_error)}), nor could "
                f"pdfminer ({_short(exc)})"
            ) from exc


def _pypdf_pages(data: bytes) -> tuple[list[str | None], dict[str, Any]]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, LimitReachedError

    reader = PdfReader(io.BytesIO(data))
    metadata: dict[str, Any] = {"parser": "pypdf"}
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except (DependencyError, NotImplementedError) as exc:
            raise ExtractionError(
                f"encrypted PDF in a scheme that cannot be opened: {exc}"
            ) from exc
        if not opened:
            raise ExtractionError(
                "encrypted PDF: it needs a password (an empty one does not open it). Save a "
                "copy without a password to index it."
            )
        metadata["encrypted"] = True
    title = reader.metadata.get("/Title") if reader.metadata else None
    if isinstance(title, str) and title.strip():
        metadata["title"] = title.strip()
    texts: list[str | None] = []
    fallback: list[str] | None = None
    counted: set[Any] = set()
    content = 0
    for index, page in enumerate(reader.pages):
        try:
            page_content = _content_size(page, index + 1, counted)
        except (ExtractionError, LimitReachedError):
            raise
        except Exception:  # a damaged stream: extract_text below meets it and falls back
            page_content = 0
        content += page_content
        if content > UNPACKED_LIMIT:
            limit = format_size(UNPACKED_LIMIT)
            raise ExtractionError(bomb(f"more than {limit} of page content"))
        if page_content > PAGE_CONTENT_LIMIT:
            texts.append(None)
            metadata.setdefault("heavy_pages", []).append(index + 1)
            continue
        try:
            texts.append(page.extract_text())
        except LimitReachedError:
            raise
        except Exception:  # one bad page: pdfminer reads the file once, for every such page
            if fallback is None:
                fallback = _pdfminer_or_nothing(data, len(reader.pages))
            texts.append(fallback[index])
            metadata.setdefault("pdfminer_pages", []).append(index + 1)
    return texts, metadata


def _content_size(page: Any, number: int, counted: set[Any]) -> int:
    """Unpacked bytes of the page's content streams not counted yet (shared ones count once).

    Raises:
        ExtractionError: a stream packed like a decompression bomb.
    """
    from pypdf.generic import ArrayObject, IndirectObject

    size = 0
    pending = [page.get("/Contents")]
    while pending:
        item = pending.pop()
        key: Any = id(item)
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            item = item.get_object()
        if item is None or key in counted:
            continue
        counted.add(key)
        if isinstance(item, ArrayObject):
            pending.extend(item)
        elif hasattr(item, "get_data"):
            unpacked = len(item.get_data())  # pypdf keeps it for extract_text
            packed = len(getattr(item, "_data", b"")) or unpacked
            if unpacked > RATIO_GRACE and unpacked > MAX_RATIO * packed:
                raise ExtractionError(ratio_bomb(f"page {number}'s content", unpacked, packed))
            size += unpacked
    return size


def _pdfminer_or_nothing(data: bytes, count: int) -> list[Any]:
    try:
        pages: list[Any] = list(_pdfminer_pages(data))
    except Exception:  # pdfminer cannot read it either: those pages go to OCR
        pages = []
    return (pages + [None] * count)[:count]


def _pdfminer_pages(data: bytes) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer

    return [
        "\n".join(item.get_text() for item in layout if isinstance(item, LTTextContainer))
        for layout in extract_pages(io.BytesIO(data))
    ]


def render_pages(data: bytes, numbers: list[int]) -> Any:
    """(page number, greyscale PIL image) for each page; the image is None for a blank page."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ExtractionError(f"cannot render the PDF's pages for OCR: {exc}") from exc
    try:
        for number in numbers:
            page = document[number - 1]
            width, height = page.get_size()
            scale = min(RENDER_DPI / 72, MAX_RENDER_PX / max(width, height, 1))
            image = page.render(scale=scale, grayscale=True).to_pil()
            page.close()
            # Only near-black pixels count as ink: scanner noise does not make a page.
            ink = image.point(lambda value: 255 if value < 160 else 0).getbbox()
            yield number, image if ink else None
    finally:
        document.close()


def _short(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
