"""Limits on what a small file may unpack to: zip bombs, gzip bombs, pixel bombs.

A file's size is checked before it is read (``max_file_mb``), but a 3 MB Word document can
inflate to gigabytes. Everything that decompresses (Office and EPUB zips, .gz/.bz2/.xz text,
images) is held to ``UNPACKED_LIMIT``, and zips to ``MAX_RATIO`` as well: checked from the
headers before anything is inflated (a zip's central directory, an image's size), and again
while inflating, in bounded steps, since headers can lie.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from workbench.core.extraction.documents import ExtractionError

UNPACKED_LIMIT = 250 * 2**20  # bytes one file may unpack to, all its parts together
MAX_RATIO = 100  # unpacked : packed; real documents stay far below (XML packs about 10:1)
RATIO_GRACE = 4 * 2**20  # parts smaller than this unpacked are never bombs, whatever the ratio
MAX_MEMBERS = 20_000  # zip entries; a big EPUB has a few thousand
READ_CHUNK = 2**20  # the most bytes inflated in one step

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_MAGIC = b"PK\x03\x04"


def format_size(size: float) -> str:
    """``1.1 GB``, ``250 MB``, ``12 KB`` (binary units, like ``max_file_mb``)."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            value = size / scale
            digits = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
            return f"{digits} {unit}"
    return f"{size:.0f} bytes"


def bomb(
    expanded: str,
    limit: int = UNPACKED_LIMIT,
    advice: str = "split it into smaller files to index it",
) -> str:
    """The reason a file is refused as a decompression bomb."""
    return (
        f"expands to {expanded}, over the {format_size(limit)} limit for unpacked content: "
        f"this looks like a decompression bomb; it was not read. If the file is genuine, {advice}"
    )


def ratio_bomb(part: str, unpacked: int, packed: int) -> str:
    """The reason a file with a too-well-compressed ``part`` is refused."""
    return (
        f"{part} expands {unpacked // max(packed, 1):,} times ({format_size(packed)} to "
        f"{format_size(unpacked)}), over the {MAX_RATIO}:1 limit for compressed content: this "
        "looks like a decompression bomb; it was not read. If the file is genuine, save it "
        "again from its application (or split it) to index it"
    )


def checked_zip(data: bytes, what: str) -> zipfile.ZipFile:
    """``data`` as a zip whose every member was inflated once, within the limits.

    The central directory's sizes are checked first; then each member is inflated in bounded
    steps and counted, so a member whose real size is over its declared one (zipfile trusts
    the declared one and would inflate up to 1 GiB at once in ``read()``) is refused too.

    Raises:
        ExtractionError: not a zip, a member over the limits, or sizes that lie.
    """
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ExtractionError(f"damaged {what}: it is not a readable zip package ({exc})") from exc
    except (OSError, ValueError, EOFError) as exc:  # a mangled zip64 end record, say
        raise ExtractionError(f"damaged {what}: {type(exc).__name__}: {exc}") from exc
    members = package.infolist()
    if len(members) > MAX_MEMBERS:
        package.close()
        raise ExtractionError(
            f"{what} has {len(members):,} parts, over the limit of {MAX_MEMBERS:,}: this looks "
            "like a zip bomb; it was not read"
        )
    try:
        _check_declared(members)  # so the real sizes, never over the declared, are in budget
        for member in members:
            _check_inflated(data, member, what)
    except ExtractionError:
        package.close()
        raise
    return package


def _check_declared(members: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip whose central directory already says it is a bomb."""
    total = sum(member.file_size for member in members)
    if total > UNPACKED_LIMIT:
        raise ExtractionError(bomb(format_size(total)))
    for member in members:
        unpacked, packed = member.file_size, member.compress_size
        if unpacked > RATIO_GRACE and unpacked > MAX_RATIO * packed:
            raise ExtractionError(ratio_bomb(f"'{member.filename}'", unpacked, packed))


def _check_inflated(data: bytes, member: zipfile.ZipInfo, what: str) -> None:
    """Inflate ``member`` in bounded steps: never past its declared size, nor too well packed."""
    if member.flag_bits & 0x1 or member.compress_type == zipfile.ZIP_STORED:
        return  # encrypted: its reader refuses it; stored: zipfile reads only the declared size
    if member.compress_type != zipfile.ZIP_DEFLATED:
        raise ExtractionError(
            f"'{member.filename}' is packed with zip method {member.compress_type}, which "
            "Office and EPUB files do not use; it was not read"
        )
    packed = _packed_bytes(data, member, what)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    size = 0
    pending: bytes | memoryview = packed
    while pending and not inflater.eof:
        try:
            size += len(inflater.decompress(pending, READ_CHUNK))
        except zlib.error as exc:
            raise ExtractionError(f"damaged {what}: '{member.filename}': {exc}") from exc
        pending = inflater.unconsumed_tail
        if size > member.file_size:
            raise ExtractionError(
                f"'{member.filename}' inflates past the {format_size(member.file_size)} its "
                "zip header declares: a forged or damaged zip (a decompression bomb hides this "
                "way); it was not read"
            )
        consumed = len(packed) - len(pending)
        if size > RATIO_GRACE and size > MAX_RATIO * consumed:
            raise ExtractionError(ratio_bomb(f"'{member.filename}'", size, consumed))


def _packed_bytes(data: bytes, member: zipfile.ZipInfo, what: str) -> memoryview:
    """The compressed bytes of ``member``, found through its local header."""
    offset = member.header_offset
    header = data[offset : offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != _LOCAL_MAGIC:
        raise ExtractionError(f"damaged {what}: no local zip header for '{member.filename}'")
    fields = _LOCAL_HEADER.unpack(header)
    start = offset + _LOCAL_HEADER.size + fields[9] + fields[10]  # name and extra lengths
    return memoryview(data)[start : start + member.compress_size]
