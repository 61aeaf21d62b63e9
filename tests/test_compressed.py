"""Compressed text files (changelog.gz, README.md.gz, app.log.xz) are read, not skipped."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
from pathlib import Path
from typing import Any

from workbench.workbench import Workbench


def random_words(size: int) -> bytes:
    """Text that packs about 3:1, as prose does."""
    rng = random.Random(7)
    words = [bytes(rng.choices(range(97, 123), k=rng.randint(2, 9))) for _ in range(5000)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def reasons(workbench: Workbench) -> dict[str, tuple[str, str]]:
    return {
        Path(row["path"]).name: (row["status"], row["reason"])
        for row in workbench.status().as_json()["failed"]
    }


def top(workbench: Workbench, query: str) -> Any:
    results = workbench.search(query, k=3)
    assert results, f"nothing found for {query!r}"
    return results[0]


def test_compressed_text_is_found_by_its_words(workbench: Workbench, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "changelog.gz").write_bytes(
        gzip.compress(b"Version 2.4 fixes the flaky heron migration on armhf.\n")
    )
    (docs / "README.md.gz").write_bytes(
        gzip.compress(b"# Guide\n\n## Setup\n\nInstall the marmalade toolchain first.\n")
    )
    (docs / "app.log.xz").write_bytes(lzma.compress(b"ERROR quokka cache eviction stalled\n"))
    (docs / "notes.txt.bz2").write_bytes(bz2.compress(b"Buy saffron for the paella.\n"))
    workbench.add_folder(docs)
    report = workbench.ingest().as_json()
    assert report["files"]["new"] == 4 and report["files"]["skipped"] == 0

    assert top(workbench, "heron migration").path == str(docs / "changelog.gz")
    markdown = top(workbench, "marmalade toolchain")
    assert markdown.path == str(docs / "README.md.gz") and markdown.kind == "markdown"
    assert markdown.locator["heading"] == "Guide > Setup"
    assert top(workbench, "quokka cache eviction").path == str(docs / "app.log.xz")
    assert top(workbench, "saffron paella").path == str(docs / "notes.txt.bz2")
    assert workbench.ingest().as_json()["files"]["unchanged"] == 4


def test_broken_archives_and_bombs_are_reported(make_workbench: Any, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    whole = gzip.compress(b"The otter report is due on Friday.\n" * 50)
    (docs / "cut.gz").write_bytes(whole[: len(whole) // 2])
    (docs / "fake.gz").write_bytes(b"this was never gzip")
    (docs / "backup.tar.gz").write_bytes(gzip.compress(b"\x00" * 1024))
    (docs / "photo.png.gz").write_bytes(gzip.compress(b"\x89PNG\r\n\x1a\n"))
    (docs / "bomb.txt.gz").write_bytes(gzip.compress(b"a" * (2 * 2**20)))
    (docs / "big.txt.xz").write_bytes(lzma.compress(random_words(2**20 + 4096)))
    (docs / "blob.gz").write_bytes(gzip.compress(b"\x00\x01\x02" * 100))
    workbench = make_workbench(max_file_mb=1)
    workbench.add_folder(docs)
    workbench.ingest()

    found = reasons(workbench)
    assert found["cut.gz"][0] == "failed" and "truncated" in found["cut.gz"][1]
    assert found["fake.gz"][0] == "failed" and "cannot decompress" in found["fake.gz"][1]
    assert found["backup.tar.gz"] == ("skipped", "no extractor for .tar.gz files yet")
    assert found["photo.png.gz"] == ("skipped", "no extractor for .png.gz files yet")
    # 2 MB from 2 KB: refused from the gzip trailer, before inflating a byte.
    assert found["bomb.txt.gz"][0] == "failed"
    assert found["bomb.txt.gz"][1].startswith("expands to 2 MB, over the 1 MB limit")
    assert "decompression bomb" in found["bomb.txt.gz"][1]
    # Big, but packed as text packs: skipped, with the setting to raise.
    assert found["big.txt.xz"][0] == "skipped"
    assert (
        "too large once decompressed (more than 1 MB > 1 MB = max_file_mb)"
        in (found["big.txt.xz"][1])
    )
    assert found["blob.gz"][0] == "skipped" and "binary" in found["blob.gz"][1]
    assert workbench.status().as_json()["files"] == 0
