from __future__ import annotations

from pathlib import Path

import pytest

from workbench.core.extraction.documents import SkipFile
from workbench.core.extraction.extractors import (
    CodeExtractor,
    DataExtractor,
    HtmlExtractor,
    PlainTextExtractor,
    RstExtractor,
)


def test_latin1_text_is_decoded_not_dropped() -> None:
    data = "Café crème brûlée, déjà vu, naïve façade — über".encode("cp1252")
    extraction = PlainTextExtractor().extract(Path("x.txt"), data)
    assert "crème brûlée" in extraction.blocks[0].text


def test_utf16_with_bom_is_text() -> None:
    data = "Grüße aus Köln\n".encode("utf-16")
    extraction = PlainTextExtractor().extract(Path("x.txt"), data)
    assert "Grüße" in extraction.blocks[0].text


def test_binary_is_refused() -> None:
    with pytest.raises(SkipFile, match="binary"):
        PlainTextExtractor().extract(Path("x.bin"), b"\x00\x01\x02PK\x03\x04" * 100)


def test_html_keeps_visible_text_only() -> None:
    html = b"""<html><head><title>T</title><script>var secret = 1;</script>
    <style>p{}</style></head><body><h1>Top</h1><p>Hello <b>world</b></p>
    <h2>Sub</h2><p>More text</p></body></html>"""
    extraction = HtmlExtractor().extract(Path("x.html"), html)
    texts = [(b.heading, b.text) for b in extraction.blocks]
    assert texts == [("T > Top", "Hello world"), ("T > Top > Sub", "More text")]
    assert all("secret" not in b.text for b in extraction.blocks)


def test_rst_sections() -> None:
    rst = b"Title\n=====\n\nIntro.\n\nPart\n----\n\nBody text.\n"
    blocks = RstExtractor().extract(Path("x.rst"), rst).blocks
    assert [(b.heading, b.text, b.line_start) for b in blocks] == [
        ("Title", "Intro.", 4),
        ("Title > Part", "Body text.", 9),
    ]


def test_csv_rows_carry_header() -> None:
    blocks = DataExtractor().extract(Path("x.csv"), b"a,b\n1,2\n3,4\n").blocks
    assert [(b.heading, b.text, b.line_start) for b in blocks] == [
        ("columns: a,b", "1,2", 2),
        ("columns: a,b", "3,4", 3),
    ]


def test_code_blocks_have_line_ranges() -> None:
    code = b"import os\n\n\ndef f():\n    return 1\n"
    blocks = CodeExtractor().extract(Path("x.py"), code).blocks
    assert [(b.line_start, b.line_end) for b in blocks] == [(1, 1), (4, 5)]
