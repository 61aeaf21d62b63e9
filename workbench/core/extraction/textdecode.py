"""Bytes to text: UTF-8 first, then charset detection; binary data is refused."""

from __future__ import annotations

from workbench.core.extraction.documents import SkipFile

_SNIFF_BYTES = 8192


def looks_binary(data: bytes) -> bool:
    """True when the start of ``data`` has NUL bytes (and is not UTF-16/32 with a BOM)."""
    head = data[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return b"\x00" in head


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode ``data`` to (text, encoding name).

    Raises:
        SkipFile: the data is binary or in no encoding that can be detected.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if looks_binary(data):
        raise SkipFile("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise SkipFile("binary or undecodable file: no text encoding fits its bytes")
    # Short Western text often ties between code pages; Windows-1252 is by far the most common.
    for match in matches:
        ties = match.chaos <= best.chaos and match.coherence >= best.coherence
        if ties and match.encoding in ("cp1252", "latin_1"):
            return data.decode("cp1252", errors="replace"), "cp1252"
    return str(best), best.encoding


def read_lines(path: str) -> list[str] | None:
    """The lines of the text file at ``path`` as it is now, or None when it cannot be read
    as text any more (moved, deleted, unreadable or binary)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        text, _ = decode_text(data)
    except (OSError, SkipFile):
        return None
    return text.splitlines()
