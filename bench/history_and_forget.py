"""Bounded history and forget latency on a library of 5,000 files.

    uv run python bench/history_and_forget.py [--files 5000] [--batches 1000] [--forgets 5]

1. A fresh ingest of the files (setup; its size is printed).
2. ``--batches`` watch batches: each edits one file and syncs that path the way
   `workbench watch` does (no forced compaction; the index is refreshed when enough piled up).
   Then the library's size on disk is compared with a fresh ingest of the same (edited) files
   into a second library, built side by side in this run. Goal: under 2x.
3. ``--forgets`` times `forget` of one file (with a tag in place, so a tag is rewritten too),
   next to a plain masked delete of one file's rows (what LanceDB's delete alone costs, which
   leaves the text in older versions). Goal: forget under 10 s. With ``--busy`` a process
   spins on one core while the forgets run (a desktop doing something else).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import fresh_workbench

from workbench.core.index.history import footprint

WORDS = (
    "river stone garden ledger invoice harbor signal lantern copper meadow orbit velvet "
    "cinder quartz willow falcon ember canyon saffron tundra beacon marble thistle "
    "juniper cobalt walnut glacier prairie summit hollow"
).split()


def paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def write_library(root: Path, files: int, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for i in range(files):
        folder = root / f"d{i // 250:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"note{i:05d}.md"
        body = "\n\n".join(paragraph(rng, rng.randint(40, 90)) for _ in range(rng.randint(2, 4)))
        path.write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def tree_bytes(root: Path) -> int:
    return sum(
        (Path(folder) / name).stat().st_size
        for folder, _dirs, names in os.walk(root)
        for name in names
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--forgets", type=int, default=5)
    parser.add_argument("--busy", action="store_true", help="one core busy during forgets")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, object] = {"files": args.files, "batches": args.batches}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_library(root / "lib", args.files)
        workbench = fresh_workbench(root / "home")
        workbench.add_folder(root / "lib")
        started = time.perf_counter()
        report = workbench.ingest()
        results["ingest_s"] = round(time.perf_counter() - started, 1)
        db = workbench.paths.db_dir
        results["fresh_ingest_mb"] = round(tree_bytes(db) / 2**20, 2)
        print(f"ingested {report.new} files in {results['ingest_s']} s: "
              f"{results['fresh_ingest_mb']} MB", file=sys.stderr)  # fmt: skip

        # -- 1,000 watch batches -------------------------------------------------------------
        rng = random.Random(11)
        syncer = workbench.library.syncer
        folders = workbench.folders()
        started = time.perf_counter()
        for n in range(args.batches):
            path = rng.choice(paths)
            with path.open("a", encoding="utf-8") as out:
                out.write(f"\n{paragraph(rng, 30)} Edit {n}.\n")
            syncer.sync(folders, [str(path)], optimize=False)
            if (n + 1) % 100 == 0:
                print(f"  {n + 1} batches, {tree_bytes(db) / 2**20:.1f} MB", file=sys.stderr)
        results["batches_s"] = round(time.perf_counter() - started, 1)
        after = tree_bytes(db)
        total, live = footprint(workbench.library.store.chunks)
        fresh = fresh_workbench(root / "fresh-home", embedder=workbench.embedder)
        fresh.add_folder(root / "lib")
        fresh.ingest()
        baseline = tree_bytes(fresh.paths.db_dir)
        results["after_batches_mb"] = round(after / 2**20, 2)
        results["fresh_same_files_mb"] = round(baseline / 2**20, 2)
        results["size_ratio"] = round(after / baseline, 3)
        results["chunks_history_mb"] = round((total - live) / 2**20, 2)
        results["versions_kept"] = len(workbench.library.store.chunks.list_versions())

        # -- forget one file --------------------------------------------------------------
        workbench.tag("bench")
        forget_s, masked_s = [], []
        victims = rng.sample(paths, args.forgets * 2)
        spinner = (
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
        )
        results["busy"] = args.busy
        try:
            for victim, masked in zip(victims[::2], victims[1::2], strict=True):
                started = time.perf_counter()
                result = workbench.forget(victim)
                forget_s.append(time.perf_counter() - started)
                assert result.verified
                store = workbench.library.store
                started = time.perf_counter()
                with store.writing():
                    store.delete_files([str(masked)])
                masked_s.append(time.perf_counter() - started)
        finally:
            if spinner is not None:
                spinner.kill()
        results["forget_s"] = {
            "median": round(statistics.median(forget_s), 2),
            "max": round(max(forget_s), 2),
        }
        results["masked_delete_s"] = round(statistics.median(masked_s), 3)
        results["forget_receipt"] = result.receipt["verification"] | {"matches": None}
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
