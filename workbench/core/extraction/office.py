"""Office documents people keep: Word (.docx), PowerPoint (.pptx), Excel (.xlsx) and EPUB.

Word paragraphs are grouped under their heading path, slides become pages (with their
speaker notes), spreadsheet rows carry their sheet and header row, and EPUB chapters are read
as the HTML they are.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from workbench.core.extraction.documents import Block, Extraction, ExtractionError
from workbench.core.extraction.extractors import HtmlExtractor, heading_path
from workbench.core.extraction.unpacking import checked_zip

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .doc/.xls/.ppt, and password-protected files


def _open_zip(data: bytes, what: str) -> zipfile.ZipFile:
    """The package, checked against zip bombs before any reader inflates a part of it."""
    if data.startswith(OLE_MAGIC):
        raise ExtractionError(
            f"password-protected or old-format {what}: save it without a password in the "
            "current format to index it"
        )
    return checked_zip(data, what)


def _damaged(what: str, exc: Exception) -> ExtractionError:
    return ExtractionError(f"damaged {what}: {type(exc).__name__}: {exc}")


class DocxExtractor:
    """Word documents: paragraphs under their heading path, tables row by row."""

    name = "docx"
    kind = "docx"
    version = "1"
    suffixes = frozenset({".docx", ".docm"})
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        import docx

        _open_zip(data, "Word document").close()
        try:
            document = docx.Document(io.BytesIO(data))
            blocks = list(_docx_blocks(document.iter_inner_content()))
        except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors...
            raise _damaged("Word document", exc) from exc
        title = document.core_properties.title or ""
        return Extraction(self.kind, blocks, {"title": title} if title else {})


def _docx_blocks(items: Iterable[Any]) -> Iterable[Block]:
    stack: list[str] = []
    for item in items:
        if hasattr(item, "rows"):  # a table
            for row in item.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                text = " | ".join(dict.fromkeys(c for c in cells if c))  # merged cells repeat
                if text:
                    yield Block(text, heading=heading_path(stack))
            continue
        text = item.text.strip()
        if not text:
            continue
        level = _heading_level(item.style.name if item.style is not None else "")
        if level:
            del stack[level - 1 :]
            stack.extend([""] * (level - 1 - len(stack)))
            stack.append(" ".join(text.split()))
        else:
            yield Block(text, heading=heading_path(stack))


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    name, _, number = style.rpartition(" ")
    return int(number) if name == "Heading" and number.isdigit() else 0


class PptxExtractor:
    """PowerPoint decks: one page per slide (title, text, tables, speaker notes)."""

    name = "pptx"
    kind = "pptx"
    version = "1"
    suffixes = frozenset({".pptx"})
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        from pptx import Presentation

        _open_zip(data, "PowerPoint deck").close()
        try:
            deck = Presentation(io.BytesIO(data))
            blocks = []
            for number, slide in enumerate(deck.slides, start=1):
                title_shape = slide.shapes.title
                title = " ".join(title_shape.text_frame.text.split()) if title_shape else ""
                for text in _shape_texts(slide.shapes, skip=title_shape):
                    blocks.append(Block(text, heading=title, page=number))
                if slide.has_notes_slide:
                    notes = slide.notes_slide.notes_text_frame.text.strip()
                    if notes:
                        blocks.append(Block(f"Notes: {notes}", heading=title, page=number))
                if title and not any(block.page == number for block in blocks):
                    blocks.append(Block(title, page=number))
        except Exception as exc:  # python-pptx raises KeyError, ValueError, lxml errors...
            raise _damaged("PowerPoint deck", exc) from exc
        return Extraction(self.kind, blocks, {"slides": len(deck.slides)})


def _shape_texts(shapes: Iterable[Any], skip: Any = None) -> Iterable[str]:
    for shape in shapes:
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if shape.shape_type == 6:  # a group: its shapes, in order
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                if any(cells):
                    yield " | ".join(cells)
        elif getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
            yield shape.text_frame.text.strip()


class XlsxExtractor:
    """Excel workbooks: each row as "a | b | c" under its sheet name and header row."""

    name = "xlsx"
    kind = "xlsx"
    version = "1"
    suffixes = frozenset({".xlsx", ".xlsm"})
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        import openpyxl

        _open_zip(data, "Excel workbook").close()
        blocks: list[Block] = []
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            sheets = workbook.sheetnames
            for sheet in workbook.worksheets:
                blocks.extend(_sheet_blocks(sheet))
            workbook.close()
        except Exception as exc:  # openpyxl raises KeyError, ValueError, lxml errors...
            raise _damaged("Excel workbook", exc) from exc
        return Extraction(self.kind, blocks, {"sheets": sheets})


def _sheet_blocks(sheet: Any) -> Iterable[Block]:
    header = ""
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = ["" if value is None else " ".join(str(value).split()) for value in row]
        while cells and not cells[-1]:
            cells.pop()
        if not any(cells):
            continue
        text = " | ".join(cells)
        if not header:
            header = text
            yield Block(text, number, number, sheet.title)
        else:
            yield Block(text, number, number, f"{sheet.title} > columns: {header}")


class EpubExtractor:
    """EPUB books: chapters in reading order, as HTML split at headings."""

    name = "epub"
    kind = "epub"
    version = "1"
    suffixes = frozenset({".epub"})
    filenames: frozenset[str] = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        book = _open_zip(data, "EPUB book")
        try:
            chapters = _spine(book)
            if _encrypted(book, chapters):
                raise ExtractionError("DRM-protected EPUB: its chapters are encrypted")
            html = HtmlExtractor()
            blocks = []
            for chapter in chapters:
                for block in html.extract(Path(chapter), book.read(chapter)).blocks:
                    blocks.append(Block(block.text, heading=block.heading))
        except ExtractionError:
            raise
        except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, OSError) as exc:
            raise _damaged("EPUB book", exc) from exc
        return Extraction(self.kind, blocks, {"chapters": len(chapters)})


_NS = {
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "enc": "http://www.w3.org/2001/04/xmlenc#",
}


def _spine(book: zipfile.ZipFile) -> list[str]:
    """The zip paths of the book's documents, in reading order."""
    container = ElementTree.fromstring(book.read("META-INF/container.xml"))
    rootfile = container.find(".//c:rootfile", _NS)
    if rootfile is None:
        raise KeyError("META-INF/container.xml names no package file")
    opf_path = rootfile.attrib["full-path"]
    package = ElementTree.fromstring(book.read(opf_path))
    base = posixpath.dirname(opf_path)
    manifest = {
        item.attrib["id"]: posixpath.normpath(posixpath.join(base, item.attrib["href"]))
        for item in package.iterfind(".//opf:manifest/opf:item", _NS)
        if "html" in item.attrib.get("media-type", "")
    }
    order = [
        ref.attrib.get("idref", "") for ref in package.iterfind(".//opf:spine/opf:itemref", _NS)
    ]
    return [manifest[idref] for idref in order if idref in manifest]


def _encrypted(book: zipfile.ZipFile, chapters: list[str]) -> bool:
    """Whether encryption.xml covers a chapter (fonts alone are often obfuscated)."""
    if "META-INF/encryption.xml" not in book.namelist():
        return False
    listing = ElementTree.fromstring(book.read("META-INF/encryption.xml"))
    uris = {ref.attrib.get("URI", "") for ref in listing.iterfind(".//enc:CipherReference", _NS)}
    return any(chapter in uris or chapter.endswith(tuple(uris - {""})) for chapter in chapters)
