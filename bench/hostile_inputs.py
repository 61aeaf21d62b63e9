"""Hostile inputs: decompression bombs and endless lines, ingested as a user would.

    uv run python bench/hostile_inputs.py [--out /tmp/wb-hostile] [--give-up 600] [--only docx]

Each input gets a folder and a fresh WORKBENCH_HOME of its own, and the installed `workbench`
runs `add` and then `ingest --json` on it in a subprocess; the ingest's peak RSS (os.wait4) and
wall time are measured. The baseline row is the same ingest of three small notes, so the figures
read as ratios. A last row ingests every input together, as one folder. An ingest still running
after --give-up seconds is killed and reported as such.

The inputs: Word, Excel, PowerPoint and EPUB files whose main part inflates to 1.1 GB of XML
(3-5 MB on disk), a Word file whose zip header claims 2 KB for that part, a 1.1 GB .gz log,
PNGs declaring 9,000 x 9,000 and 50,000 x 50,000 pixels, a PDF page drawn by 60 MB of operators,
and 20 MB text files on a single line: words, and base64 (no spaces at all); then a 1 MB line,
short enough to be indexed. A second table times chunk_blocks alone (with the real MiniLM
tokenizer, one subprocess per size) on a single line and on short lines of 1 to 8 MB: seconds
per MB stay flat when chunking is linear. --no-scaling skips it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from bombs import (  # noqa: E402 - the builders live with the tests that use them
    MB,
    epub_bomb,
    gzip_bomb,
    office_bomb,
    pdf_bomb,
    pixel_bomb,
    run_measured,
)

WORDS = "the otter swims past seven green reeds while herons wait on the far bank".split()


def one_line_words(path: Path, size: int) -> Path:
    rng = random.Random(3)
    path.write_text(" ".join(rng.choice(WORDS) for _ in range(size // 4))[:size])
    return path


def one_line_base64(path: Path, size: int) -> Path:
    path.write_bytes(base64.b64encode(random.Random(4).randbytes(size * 3 // 4))[:size])
    return path


def notes(folder: Path) -> None:
    (folder / "garden.md").write_text("# Garden\n\nWater tomatoes deeply twice a week.\n")
    (folder / "travel.txt").write_text("Train to Lisbon leaves at 07:40 from platform 3.\n")
    (folder / "fib.py").write_text(
        "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
    )


INPUTS: dict[str, Callable[[Path], Any]] = {
    "baseline (3 small notes)": notes,
    "docx, 1.1 GB of XML": lambda d: office_bomb(d / "report.docx", 1100 * MB),
    "xlsx, 1.1 GB of XML": lambda d: office_bomb(d / "sheet.xlsx", 1100 * MB),
    "pptx, 1.1 GB of XML": lambda d: office_bomb(d / "deck.pptx", 1100 * MB),
    "epub, 1.1 GB chapter": lambda d: epub_bomb(d / "book.epub", 1100 * MB),
    "docx, header lies (2 KB)": lambda d: office_bomb(d / "liar.docx", 1100 * MB, lie=True),
    ".log.gz, 1.1 GB": lambda d: gzip_bomb(d / "app.log.gz", 1100 * MB),
    "png, 9000 x 9000": lambda d: pixel_bomb(d / "scan.png", 9000, 9000),
    "png, 50000 x 50000": lambda d: pixel_bomb(d / "poster.png", 50_000, 50_000),
    "pdf, 60 MB page content": lambda d: pdf_bomb(d / "drawing.pdf", 60 * MB),
    "txt, 20 MB one line of words": lambda d: one_line_words(d / "words.txt", 20 * MB),
    "txt, 20 MB one line of base64": lambda d: one_line_base64(d / "blob.txt", 20 * MB),
    "txt, 1 MB one line of words": lambda d: one_line_words(d / "long-line.txt", MB - 64),
}
SCALING = {
    "one line of words": [1, 2, 4, 8],
    "one line of base64": [1, 2, 4],
    "short lines": [1, 2, 4, 8],
}


def chunk_one(kind: str, size: int) -> dict[str, Any]:
    """Extract and chunk one generated text in this process (run in a subprocess per size)."""
    import resource
    import time

    from workbench.core.extraction.documents import Block
    from workbench.core.index.chunking import chunk_blocks
    from workbench.core.index.embedding import MiniLMEmbedder

    rng = random.Random(5)
    if kind == "one line of words":
        text = " ".join(rng.choice(WORDS) for _ in range(size // 4))[:size]
    elif kind == "one line of base64":
        text = base64.b64encode(rng.randbytes(size * 3 // 4))[:size].decode()
    else:
        text = "\n".join(" ".join(rng.choices(WORDS, k=3)) for _ in range(size // 16))
    embedder = MiniLMEmbedder()
    started = time.perf_counter()
    chunks = chunk_blocks([Block(text, 1, text.count("\n") + 1)], embedder)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"chunks": len(chunks), "seconds": round(seconds, 1), "peak_rss_mb": round(peak / MB)}


def scaling(give_up: float, workdir: Path) -> list[dict[str, Any]]:
    """chunk_blocks on 1, 2, 4, 8 MB: seconds per MB stay flat when chunking is linear."""
    rows = []
    for kind, sizes in SCALING.items():
        for size in sizes:
            args = [sys.executable, __file__, "--chunk-one", kind, str(size * MB)]
            done = run_measured(args, dict(os.environ), workdir, give_up_s=give_up)
            row: dict[str, Any] = {"text": kind, "mb": size}
            if done.returncode == 0:
                row |= json.loads(done.stdout.splitlines()[-1])
                row["s_per_mb"] = round(row["seconds"] / size, 2)
            else:
                row |= {"chunks": "-", "seconds": f"killed after {give_up:.0f}", "s_per_mb": "-"}
                row["peak_rss_mb"] = round(done.peak_rss / MB)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    return rows


def measure(name: str, folder: Path, home: Path, give_up: float) -> dict[str, Any]:
    exe = str(Path(sys.executable).parent / "workbench")
    env = dict(os.environ, WORKBENCH_HOME=str(home))
    added = run_measured([exe, "add", str(folder)], env, home.parent)
    if added.returncode != 0:
        raise SystemExit(f"workbench add failed:\n{added.stderr}")
    ingest = run_measured([exe, "ingest", "--json"], env, home.parent, give_up_s=give_up)
    outcome = "killed" if ingest.returncode == -9 else f"exit {ingest.returncode}"
    reasons: list[str] = []
    if ingest.returncode == 0:
        status = run_measured([exe, "status", "--json"], env, home.parent)
        rows = json.loads(status.stdout)["failed"]
        reasons = [f"{row['status']}: {row['reason'][:90]}" for row in rows]
        report = json.loads(ingest.stdout)
        outcome = f"indexed {report['files']['new']}, chunks {report['chunks']['embedded']}"
    return {
        "input": name,
        "bytes_on_disk": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        "peak_rss_mb": round(ingest.peak_rss / MB),
        "seconds": round(ingest.seconds, 1),
        "outcome": outcome,
        "traceback": "Traceback" in ingest.stderr,
        "reasons": reasons,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/wb-hostile"))
    parser.add_argument("--give-up", type=float, default=600, help="kill an ingest after this")
    parser.add_argument("--only", default="", help="run the inputs whose name contains this")
    parser.add_argument("--no-scaling", action="store_true", help="skip the chunking table")
    parser.add_argument("--chunk-one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.chunk_one:
        print(json.dumps(chunk_one(args.chunk_one[0], int(args.chunk_one[1]))))
        return
    if args.out.exists():
        shutil.rmtree(args.out)
    chosen = {n: make for n, make in INPUTS.items() if args.only in n or n.startswith("base")}
    rows = []
    everything = args.out / "all" / "library"
    everything.mkdir(parents=True)
    for number, (name, make) in enumerate(chosen.items()):
        folder = args.out / f"input-{number}" / "library"
        folder.mkdir(parents=True)
        make(folder)
        if number:
            for path in folder.iterdir():
                shutil.copy(path, everything / path.name)
        rows.append(measure(name, folder, folder.parent / "home", args.give_up))
        print(json.dumps(rows[-1]), file=sys.stderr)
    if len(chosen) > 2:
        rows.append(measure("all of the above, one folder", everything, everything.parent / "home",
                            args.give_up))  # fmt: skip
    print_table(rows)
    chunking = [] if args.no_scaling else scaling(args.give_up, args.out)
    if chunking:
        print("\n| chunk_blocks on | size | chunks | seconds | s per MB | peak RSS |")
        print("|---|---|---|---|---|---|")
        for row in chunking:
            print(
                f"| {row['text']} | {row['mb']} MB | {row['chunks']} | {row['seconds']} "
                f"| {row['s_per_mb']} | {row['peak_rss_mb']} MB |"
            )
    print(json.dumps({"ingest": rows, "chunking": chunking}, indent=2))


def summary(row: dict[str, Any]) -> str:
    """One file's reason (cut short), or for a folder how many files ended how."""
    reasons = row["reasons"]
    if len(reasons) == 1:
        return str(reasons[0])[:80] + "..."
    if reasons:
        failed = sum(reason.startswith("failed") for reason in reasons)
        return f"{failed} failed, {len(reasons) - failed} skipped, {row['outcome']}"
    return str(row["outcome"])


def print_table(rows: list[dict[str, Any]]) -> None:
    base = rows[0]
    print("| input | on disk | peak RSS | x baseline | wall | result |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ratio = row["peak_rss_mb"] / max(base["peak_rss_mb"], 1)
        result = summary(row)
        if row["traceback"]:
            result += " (TRACEBACK on stderr)"
        print(
            f"| {row['input']} | {row['bytes_on_disk'] / MB:.1f} MB | {row['peak_rss_mb']} MB "
            f"| {ratio:.2f} | {row['seconds']} s | {result} |"
        )


if __name__ == "__main__":
    main()
