"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import socket
import statistics
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.paths import resolve_paths
from workbench.workbench import Workbench

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "scifact"


def fresh_workbench(home: Path, embedder: Any | None = None, **settings: Any) -> Workbench:
    workbench = Workbench(resolve_paths(home), Settings(**settings))
    if embedder is not None:
        workbench.__dict__["embedder"] = embedder
    return workbench


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "mean": round(statistics.fmean(values), 2) if values else 0.0,
    }


def scifact_docs(limit: int) -> list[dict[str, str]]:
    docs = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            docs.append(json.loads(line))
            if len(docs) >= limit:
                break
    return docs


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scifact_library(home: Path, docs: int) -> Workbench:
    """A library of the first ``docs`` SciFact abstracts, one Markdown file each, indexed in
    ``home / "wb"``."""
    folder = home / "library"
    folder.mkdir(parents=True)
    for doc in scifact_docs(docs):
        (folder / f"{doc['_id']}.md").write_text(f"# {doc['title']}\n\n{doc['text']}\n")
    workbench = fresh_workbench(home / "wb")
    workbench.add_folder(folder)
    workbench.ingest()
    return workbench


def report(results: dict[str, Any], out: str = "") -> None:
    """Print ``results`` as JSON, and write them to ``out`` when given."""
    text = json.dumps(results, indent=2)
    print(text)
    if out:
        Path(out).write_text(text)
