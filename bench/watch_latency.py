"""Save-to-searchable latency of `workbench watch`, and a 2,000-file burst next to `ingest`.

    uv run python bench/watch_latency.py [--edits 60] [--burst 2000]

Runs the real `workbench watch --json` in a subprocess, as a user would. Each edit writes a
small text file with a unique word; the latency is from just before the write until the
watcher's JSON line for the batch that indexed it arrives (the batch is committed by then;
every edit is also checked with a full-text search). The burst moves 2,000 new files into the
folder at once and times until all are indexed, next to a plain `workbench ingest` of the same
files into a fresh library in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import fresh_workbench, summary

EXE = str(Path(sys.executable).parent / "workbench")


class Watch:
    def __init__(self, home: Path) -> None:
        env = dict(os.environ, WORKBENCH_HOME=str(home))
        self.process = subprocess.Popen(
            [EXE, "watch", "--json"], env=env, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def next_batch(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = json.loads(line)
            if event["event"] == "batch":
                return event
        raise RuntimeError("watch exited")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=60)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--background", type=int, default=5000, help="files already indexed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "library"
        folder.mkdir()
        for i in range(args.background):
            (folder / f"note-{i:03d}.txt").write_text(
                f"Background note {i} about topic {i % 17}.\n"
            )
        home = root / "home"
        workbench = fresh_workbench(home)
        workbench.add_folder(folder)
        watch = Watch(home)
        watch.next_batch()  # start-up reconciliation
        latencies = []
        for n in range(args.edits):
            path = folder / f"edited-{n % 10}.txt"
            word = f"marker{n:04d}x"
            started = time.perf_counter()
            path.write_text(f"Edit number {n} mentions {word} once.\n")
            while True:
                batch = watch.next_batch()
                if str(path) in batch["paths"]:
                    break
            latencies.append(1000 * (time.perf_counter() - started))
            hits = workbench.search(word, k=1, mode="text")
            assert hits and hits[0].path == str(path), f"{word} not searchable"
        staging = root / "staging"
        staging.mkdir()
        for i in range(args.burst):
            (staging / f"item-{i:04d}.txt").write_text(f"Burst item {i} filed under {i % 97}.\n")
        plain = root / "plain"
        shutil.copytree(staging, plain)
        started = time.perf_counter()
        shutil.move(staging, folder / "burst")
        indexed, batches = 0, 0
        while indexed < args.burst:
            batch = watch.next_batch()
            batches += 1
            indexed += batch["files"]["new"]
        burst_seconds = time.perf_counter() - started
        watch.stop()
        plain_home = root / "plain-home"
        env = dict(os.environ, WORKBENCH_HOME=str(plain_home))
        subprocess.run([EXE, "add", str(plain)], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run([EXE, "ingest"], env=env, check=True, capture_output=True)
        plain_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "library_files": args.background,
                "edits": args.edits,
                "save_to_searchable_ms": summary(latencies),
                "burst_files": args.burst,
                "burst_watch_s": round(burst_seconds, 2),
                "burst_batches": batches,
                "plain_ingest_s": round(plain_seconds, 2),
                "burst_over_ingest": round(burst_seconds / plain_seconds, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
