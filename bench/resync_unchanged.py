"""Re-sync of 10,000 unchanged small files, next to a bare os.walk + stat of the same tree.

    uv run python bench/resync_unchanged.py [--files 10000]

The first ingest (embedding every file) is setup, not measured. The figure is the time of
an incremental `ingest` that finds nothing to do; the goal is under 2 s. The bare walk is
the floor no sync can beat: it only lists and stats the files.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from _common import fresh_workbench

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()
)


def bare_walk(root: Path) -> int:
    count = 0
    for directory, _, files in os.walk(root):
        for name in files:
            os.stat(os.path.join(directory, name))
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "many"
        for i in range(args.files):
            sub = folder / f"d{i // 500:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            words = " ".join(WORDS[(i * k) % len(WORDS)] for k in range(1, 9))
            (sub / f"f{i:05d}.txt").write_text(f"File {i}: {words} {i * 31}\n")
        workbench = fresh_workbench(Path(tmp) / "home")
        workbench.add_folder(folder)
        started = time.perf_counter()
        first = workbench.ingest()
        setup_seconds = time.perf_counter() - started
        resync, walk = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            bare_walk(folder)
            walk.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = workbench.ingest()
            resync.append(time.perf_counter() - started)
            assert report.unchanged == args.files and report.embedded == 0
    print(
        json.dumps(
            {
                "files": args.files,
                "first_ingest_s": round(setup_seconds, 1),
                "first_ingest_embedded": first.embedded,
                "resync_unchanged_s": round(min(resync), 3),
                "bare_walk_stat_s": round(min(walk), 3),
                "ratio_to_bare_walk": round(min(resync) / min(walk), 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
