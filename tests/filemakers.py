"""Real files for the multimodal tests: PDFs (reportlab, Pillow), images, office.

Speech is a committed recording in the whisper plugin's tests:
plugins/workbench-whisper/tests/data/budget-memo.wav (see test_whisper.py there).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

PAGE = (1240, 1754)  # A4 at 150 dpi


def words_image(lines: list[str], size: tuple[int, int] = PAGE, font_size: int = 36) -> Any:
    """A white image with ``lines`` written on it in black (Pillow's bundled font)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    for number, line in enumerate(lines):
        draw.text((80, 120 + number * int(font_size * 1.9)), line, fill="black", font=font)
    return image


def text_pdf(path: Path, pages: list[list[str]], password: str | None = None) -> Path:
    """A PDF with a real text layer, one list of lines per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    document = canvas.Canvas(str(path), pagesize=A4)
    for lines in pages:
        for number, line in enumerate(lines):
            document.drawString(72, 770 - number * 18, line)
        document.showPage()
    document.save()
    if password is not None:
        encrypt(path, password)
    return path


def encrypt(path: Path, user_password: str) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(path))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    with path.open("wb") as handle:
        writer.write(handle)


def scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """An image-only PDF: each page is a picture of its lines, with no text layer."""
    images = [words_image(lines) for lines in pages]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=150)
    return path


def mixed_pdf(path: Path, text_lines: list[str], scanned_lines: list[str]) -> Path:
    """Page 1 has a text layer; page 2 is only a picture of text."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    document = canvas.Canvas(str(path), pagesize=A4)
    for number, line in enumerate(text_lines):
        document.drawString(72, 770 - number * 18, line)
    document.showPage()
    width, height = A4
    document.drawImage(ImageReader(words_image(scanned_lines)), 0, 0, width, height)
    document.showPage()
    document.save()
    return path


def word_png(path: Path, lines: list[str]) -> Path:
    words_image(lines, size=(900, 120 + 60 * len(lines)), font_size=30).save(path)
    return path


def photo_jpeg(path: Path) -> Path:
    """A JPEG with EXIF: date taken, camera, GPS (the Eiffel Tower), and no words in it."""
    from PIL.TiffImagePlugin import IFDRational

    image = Image.new("RGB", (640, 480), (90, 140, 200))
    ImageDraw.Draw(image).ellipse((200, 120, 440, 360), fill=(240, 200, 60))
    exif = Image.Exif()
    exif[271], exif[272], exif[306] = "Canon", "EOS 80D", "2023:05:01 14:22:10"
    exif.get_ifd(0x8769)[36867] = "2023:05:01 14:22:10"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[3] = "N", "E"
    gps[2] = (IFDRational(48), IFDRational(51), IFDRational(2964, 100))
    gps[4] = (IFDRational(2), IFDRational(17), IFDRational(4032, 100))
    image.save(path, "JPEG", exif=exif)
    return path


def docx_file(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Garden plan", 1)
    document.add_paragraph("Plant the tulip bulbs in October, pointed end up.")
    document.add_heading("Budget", 2)
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {
        (0, 0): "item",
        (0, 1): "cost",
        (1, 0): "compost",
        (1, 1): "85",
    }.items():
        table.cell(row, col).text = text
    document.save(str(path))
    return path


def pptx_file(path: Path) -> Path:
    from pptx import Presentation

    deck = Presentation()
    for title, body, notes in [
        ("Roadmap", "Ship the offline mode in spring.", ""),
        ("Risks", "The glacier survey may slip a quarter.", "Mention the weather station."),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))
    return path


def xlsx_file(path: Path) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Inventory"
    for row in [("part", "count"), ("walnut dowel", 40), ("brass hinge", 12)]:
        sheet.append(row)
    workbook.save(str(path))
    return path


def epub_file(path: Path) -> Path:
    """A minimal valid EPUB 3 with two chapters."""
    chapters = {
        "one.xhtml": "<h1>The Harbour</h1><p>The pilot boat waited for the tide.</p>",
        "two.xhtml": "<h1>The Archive</h1><p>Maps of the salt marsh were kept in oak drawers.</p>",
    }
    manifest = "".join(
        f'<item id="c{i}" href="{name}" media-type="application/xhtml+xml"/>'
        for i, name in enumerate(chapters)
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        book.writestr(
            "OEBPS/book.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            f"<manifest>{manifest}</manifest><spine>{spine}</spine></package>",
        )
        for name, body in chapters.items():
            book.writestr(
                f"OEBPS/{name}",
                '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
                f"<title>Coast</title></head><body>{body}</body></html>",
            )
    path.write_bytes(buffer.getvalue())
    return path
