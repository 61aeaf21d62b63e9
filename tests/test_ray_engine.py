"""`workbench ingest --engine ray`: Ray (on this machine's cores) builds the same library as the
local engine from a 500-file mixed folder, and stays incremental on the next sync."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from filemakers import (
    docx_file,
    photo_jpeg,
    pptx_file,
    scanned_pdf,
    text_pdf,
    word_png,
    xlsx_file,
)

from workbench.config import Settings
from workbench.core.answering.models import BUNDLED_NAME
from workbench.errors import WorkbenchError
from workbench.paths import resolve_paths
from workbench.workbench import Workbench

WORDS = (
    "garden tomato harbour lantern copper meadow quartz ledger violin glacier orchard "
    "pepper canyon walnut beacon tundra falcon marble saffron ribbon thistle compass "
    "lagoon cedar pigeon velvet summit pebble anchor willow sparrow ember cobalt maple"
).split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 7)))


def mixed_folder(root: Path, total: int = 500) -> dict[str, int]:
    """``total`` files of every kind the library reads, plus ones it must skip or fail."""
    rng = random.Random(17)
    made: dict[str, int] = {}

    def note(kind: str) -> None:
        made[kind] = made.get(kind, 0) + 1

    for folder in ("pdf", "scans", "images", "office", "broken"):
        (root / folder).mkdir(parents=True)

    for index in range(12):
        text_pdf(root / "pdf" / f"report-{index}.pdf", [[sentence(rng) for _ in range(8)]] * 2)
        note("pdf")
    scanned_pdf(root / "scans" / "scan-0.pdf", [["Invoice for the zebra crossing", "Paid in full"]])
    word_png(root / "images" / "screen-0.png", ["Kangaroo jumps over fences", "at dawn"])
    photo_jpeg(root / "images" / "photo-0.jpg")
    made |= {"scanned": 1, "png": 1, "jpeg": 1}
    for index in range(4):
        docx_file(root / "office" / f"memo-{index}.docx")
        pptx_file(root / "office" / f"deck-{index}.pptx")
        xlsx_file(root / "office" / f"sheet-{index}.xlsx")
        made |= {"office": made.get("office", 0) + 3}
    for index in range(3):
        (root / "broken" / f"damaged-{index}.pdf").write_bytes(b"%PDF-1.7\n" + rng.randbytes(900))
        (root / "broken" / f"empty-{index}.md").write_text("")
        (root / "broken" / f"blob-{index}.bin").write_bytes(rng.randbytes(256))
        made["broken"] = made.get("broken", 0) + 3
    suffixes = (".md", ".txt", ".py", ".json", ".csv", ".html")
    body = {
        ".md": lambda: f"# {sentence(rng)}\n\n" + "\n\n".join(paragraph(rng) for _ in range(3)),
        ".txt": lambda: "\n\n".join(paragraph(rng) for _ in range(rng.randint(1, 4))),
        ".py": lambda: f'def f():\n    """{sentence(rng)}"""\n    return {rng.randint(0, 99)}\n',
        ".json": lambda: f'{{"title": "{sentence(rng)}", "n": {rng.randint(0, 9)}}}',
        ".csv": lambda: "name,value\n" + "\n".join(f"{w},{i}" for i, w in enumerate(WORDS[:9])),
        ".html": lambda: f"<html><body><h1>{sentence(rng)}</h1><p>{paragraph(rng)}</p></body>",
    }
    remaining = total - sum(made.values())
    texts: list[str] = []
    for index in range(remaining):
        suffix = suffixes[index % len(suffixes)]
        path = root / f"notes-{index % 7}" / f"note-{index}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        # Some files repeat another's text: their chunks reuse the cached vectors.
        text = rng.choice(texts) if texts and index % 25 == 0 else body[suffix]()
        texts.append(text)
        path.write_text(text, encoding="utf-8")
        note(suffix)
    assert sum(1 for p in root.rglob("*") if p.is_file()) == total
    return made


def library_rows(workbench: Workbench) -> tuple[dict[str, Any], dict[str, Any]]:
    """The files table (less when each row was written, and with the image thumbnails' own
    cache folder left out) and the chunks table, by key."""
    store = workbench.library.store
    cache = str(workbench.paths.cache_dir)
    files = {
        row["path"]: {k: v for k, v in row.items() if k != "indexed_at"}
        | {"meta": (row["meta"] or "").replace(cache, "CACHE")}
        for row in store.files.to_arrow().to_pylist()
    }
    chunks = {row["id"]: row for row in store.chunks.to_arrow().to_pylist()}
    return files, chunks


def assert_same_library(local: Workbench, ray: Workbench) -> None:
    local_files, local_chunks = library_rows(local)
    ray_files, ray_chunks = library_rows(ray)
    for path, row in local_files.items():
        assert ray_files.get(path) == row, path
    assert sorted(ray_files) == sorted(local_files)
    assert sorted(ray_chunks) == sorted(local_chunks)
    for chunk_id, row in local_chunks.items():
        other = ray_chunks[chunk_id]
        assert {k: v for k, v in other.items() if k != "vector"} == {
            k: v for k, v in row.items() if k != "vector"
        }
        np.testing.assert_allclose(other["vector"], row["vector"], atol=1e-4)


@pytest.mark.slow
def test_the_ray_engine_builds_the_same_library_as_the_local_engine(
    tmp_path: Path, embedder: Any
) -> None:
    folder = tmp_path / "mixed"
    made = mixed_folder(folder)
    assert made["pdf"] == 12 and made["office"] == 12

    def library(name: str) -> Workbench:
        workbench = Workbench(resolve_paths(tmp_path / name), Settings(chat_model=BUNDLED_NAME))
        workbench.__dict__["embedder"] = embedder
        workbench.add_folder(folder)
        return workbench

    local, ray = library("local"), library("ray")
    by_local = local.ingest()
    by_ray = ray.ingest(engine="ray")
    assert by_ray.as_json()["files"] == by_local.as_json()["files"]
    assert by_local.new > 470 and by_local.failed >= 3 and by_local.skipped >= 6
    assert by_ray.embedded == by_local.embedded and by_ray.reused == by_local.reused
    assert_same_library(local, ray)
    # OCR ran on the workers too: the scan and the screenshot are searchable.
    assert ray.search("zebra crossing invoice", k=1)[0].path.endswith("scan-0.pdf")
    assert ray.search("kangaroo jumps over fences", k=1)[0].path.endswith("screen-0.png")

    # Incremental: one file changed, one renamed, one deleted; the rest is not touched.
    (folder / "notes-0" / "note-0.md").write_text("# Changed\n\nA falcon over the tundra.\n")
    shutil.move(folder / "notes-1" / "note-1.txt", folder / "notes-1" / "moved.txt")
    (folder / "notes-2" / "note-2.py").unlink()
    again_local, again_ray = local.ingest(), ray.ingest(engine="ray")
    assert again_ray.as_json()["files"] == again_local.as_json()["files"]
    assert (again_ray.changed, again_ray.renamed, again_ray.deleted) == (1, 1, 1)
    assert again_ray.unchanged == 500 - 3 - again_ray.skipped - again_ray.failed
    assert_same_library(local, ray)


def test_the_cli_names_the_engine_and_refuses_what_it_cannot_do(workbench_home: Path) -> None:
    exe = Path(sys.executable).parent / "workbench"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)

    assert "--engine" in cli("ingest", "--help").stdout
    unknown = cli("ingest", "--engine", "spark")
    assert unknown.returncode == 1 and "no sync engine 'spark'" in unknown.stderr
    stray = cli("ingest", "--address", "10.0.0.5:6379")
    assert stray.returncode == 1 and "add --engine ray" in stray.stderr
    assert "Traceback" not in unknown.stderr + stray.stderr


def test_an_unreachable_ray_cluster_is_a_clear_error(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    with pytest.raises(WorkbenchError, match="Cannot join the Ray cluster at 127.0.0.1:9"):
        workbench.ingest(engine="ray", address="127.0.0.1:9")
