"""Hostile files for the hardening tests and bench/hostile_inputs.py: decompression bombs.

Every bomb is built in well under a second without holding its unpacked size in memory: a
deflate stream of repeated data is one compressed megabyte block, flushed so that it does not
refer back, then that block repeated.
"""

from __future__ import annotations

import bz2
import io
import os
import signal
import struct
import subprocess
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MB = 2**20
WORD_XML_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    b"<w:body>"
)
WORD_XML_UNIT = b"<w:p><w:r><w:t>bomb</w:t></w:r></w:p>"
WORD_XML_TAIL = b"</w:body></w:document>"


@dataclass(frozen=True)
class Deflated:
    """A raw deflate stream with what a zip header says about it."""

    packed: bytes
    size: int
    crc: int


def deflate_repeated(head: bytes, unit: bytes, size: int, tail: bytes = b"") -> Deflated:
    """``head``, then ``unit`` repeated to about ``size`` bytes, then ``tail``, deflated."""
    block = unit * max(1, MB // len(unit))
    count = max(0, (size - len(head) - len(tail)) // len(block))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    packed_block = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == packed_block, "a flushed block must not depend on what came before"
    end = compressor.compress(tail) + compressor.flush()
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    packed = start + packed_block * count + end
    return Deflated(packed, len(head) + len(block) * count + len(tail), crc)


def handmade_zip(
    members: dict[str, Deflated | bytes], declared: dict[str, int] | None = None
) -> bytes:
    """A zip of ``members`` (bytes are stored, Deflated deflated); ``declared`` lies about sizes."""
    declared = declared or {}
    out = io.BytesIO()
    central = []
    for name, member in members.items():
        raw = name.encode()
        if isinstance(member, Deflated):
            method, packed, size, crc = 8, member.packed, member.size, member.crc
        else:
            method, packed, size, crc = 0, member, len(member), zlib.crc32(member)
        size = declared.get(name, size)
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 33, crc,
                              len(packed), size, len(raw), 0))  # fmt: skip
        out.write(raw + packed)
        central.append(
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 33, crc,
                        len(packed), size, len(raw), 0, 0, 0, 0, 0, offset) + raw
        )  # fmt: skip
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central),
                          out.tell() - start, start, 0))  # fmt: skip
    return out.getvalue()


def _template(kind: str) -> dict[str, bytes]:
    """The parts of a real, empty document of ``kind`` (docx, xlsx or pptx)."""
    buffer = io.BytesIO()
    if kind == "docx":
        import docx

        docx.Document().save(buffer)
    elif kind == "xlsx":
        import openpyxl

        openpyxl.Workbook().save(buffer)
    else:
        from pptx import Presentation

        Presentation().save(buffer)
    with zipfile.ZipFile(buffer) as package:
        return {name: package.read(name) for name in package.namelist()}


BOMB_PARTS = {
    "docx": "word/document.xml",
    "xlsx": "xl/worksheets/sheet1.xml",
    "pptx": "ppt/presentation.xml",
}


def office_bomb(path: Path, size: int, lie: bool = False, xml: bool = True) -> Path:
    """A real Word/Excel/PowerPoint file (by suffix) whose main part inflates to ``size``.

    With ``lie``, the zip headers declare the part at 2 KB, as a bomb that hides would. The
    part is valid XML (a parser would build all of it), or zeros with ``xml=False`` (a parser
    gives up at once: what a test without the guard can afford).
    """
    kind = path.suffix[1:]
    part = BOMB_PARTS[kind]
    parts: dict[str, Deflated | bytes] = dict(_template(kind))
    if xml:
        parts[part] = deflate_repeated(WORD_XML_HEAD, WORD_XML_UNIT, size, WORD_XML_TAIL)
    else:
        parts[part] = deflate_repeated(b"", b"\x00", size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(handmade_zip(parts, {part: 2048} if lie else None))
    return path


def epub_bomb(path: Path, size: int, html: bool = True) -> Path:
    """An EPUB whose one chapter inflates to ``size`` bytes of HTML (or of zeros)."""
    container = (
        b'<?xml version="1.0"?><container version="1.0" '
        b'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        b'<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        b"</rootfiles></container>"
    )
    opf = (
        b'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        b'<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>'
        b'</manifest><spine><itemref idref="c1"/></spine></package>'
    )
    if html:
        chapter = deflate_repeated(b"<html><body>", b"<p>bomb bomb</p>", size, b"</body></html>")
    else:
        chapter = deflate_repeated(b"", b"\x00", size)
    parts: dict[str, Deflated | bytes] = {
        "mimetype": b"application/epub+zip",
        "META-INF/container.xml": container,
        "OEBPS/content.opf": opf,
        "OEBPS/c1.xhtml": chapter,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(handmade_zip(parts))
    return path


def gzip_bomb(path: Path, size: int) -> Path:
    """A .gz of ``size`` bytes of log lines (a gzip header around a repeated deflate block)."""
    stream = deflate_repeated(b"", b"ERROR disk full\n", size)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<2L", stream.crc, stream.size & 0xFFFFFFFF)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + stream.packed + trailer)
    return path


def bz2_bomb(path: Path, size: int) -> Path:
    """A .bz2 of ``size`` bytes of one repeated log line: 1 MB streams, one after another."""
    stream = bz2.compress(b"ERROR disk full\n" * (MB // 16), 9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(stream * (size // MB))
    return path


def pixel_bomb(path: Path, width: int, height: int) -> Path:
    """A PNG of ``width`` x ``height`` transparent RGBA pixels: a few KB on disk."""
    row = b"\x00" * (1 + 4 * width)  # filter byte, then the pixels
    stream = deflate_repeated(b"", row, len(row) * height)
    rows = stream.size // len(row)
    adler = 1
    block = row * max(1, MB // len(row))
    for _ in range(stream.size // len(block)):
        adler = zlib.adler32(block, adler)
    idat = b"\x78\xda" + stream.packed + struct.pack(">L", adler)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">L", len(body)) + kind + body + struct.pack(">L", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">2L5B", width, rows, 8, 6, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def zlib_repeated(head: bytes, unit: bytes, size: int, tail: bytes = b"") -> tuple[bytes, int]:
    """(zlib stream, unpacked size) of ``head`` + ``unit`` repeated + ``tail``."""
    stream = deflate_repeated(head, unit, size, tail)
    block = unit * max(1, MB // len(unit))
    adler = zlib.adler32(head)
    for _ in range((stream.size - len(head) - len(tail)) // len(block)):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(tail, adler)
    return b"\x78\xda" + stream.packed + struct.pack(">L", adler), stream.size


def pdf_bomb(path: Path, size: int, pages: int = 1) -> Path:
    """A PDF whose pages each draw text from a content stream that inflates to ``size``."""
    content, _ = zlib_repeated(b"", b"BT /F1 12 Tf 72 720 Td (bomb) Tj ET\n", size)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % (4 + 2 * n) for n in range(pages))
        + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for number in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * number)
        )
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
            + content
            + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


@dataclass(frozen=True)
class Measured:
    """How a command ran: exit code, output, peak resident memory and wall time."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes, the largest of the process and the children it waited for
    seconds: float


def run_measured(
    args: Sequence[str], env: dict[str, str], workdir: Path, give_up_s: float = 900
) -> Measured:
    """Run ``args`` to the end and measure its own peak RSS.

    The peak is the child's VmHWM (/proc), read while it runs: ``ru_maxrss`` from wait4 would
    also count the pytest process's own peak, which a forked child inherits before exec.
    A run past ``give_up_s`` is killed (returncode -9): a safeguard, not a timing check.
    """
    out, err = workdir / "measured.out", workdir / "measured.err"
    peak = 0
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(list(args), env=env, stdout=stdout, stderr=stderr)
        while True:
            peak = max(peak, _high_water_mark(process.pid))
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > give_up_s:
                os.kill(process.pid, signal.SIGKILL)
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        process.returncode,
        out.read_text(errors="replace"),
        err.read_text(errors="replace"),
        peak,
        seconds,
    )


def _high_water_mark(pid: int) -> int:
    """Peak resident memory of a running process in bytes (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
