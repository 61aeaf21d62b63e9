"""Ingest throughput next to the raw embedder's throughput on the very same chunk texts.

    uv run python bench/ingest_throughput.py [--docs 600]

Writes SciFact abstracts as markdown files, ingests them into a fresh library (scan, read,
hash, extract, chunk, embed, write LanceDB, update the full-text index), then embeds the
chunk texts the ingest produced with the bare embedder, same batch size. The ratio
ingest/raw (chunks per second) is the figure; the issue's goal is >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import fresh_workbench, scifact_docs

from workbench.core.index.embedding import MiniLMEmbedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    embedder = MiniLMEmbedder()
    ingest_rates, raw_rates = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for doc in scifact_docs(args.docs):
            (folder / f"{doc['_id']}.md").write_text(f"# {doc['title']}\n\n{doc['text']}\n")
        embedder.embed(["warm up"] * 8)
        for round_number in range(args.rounds):
            workbench = fresh_workbench(Path(tmp) / f"home{round_number}", embedder)
            workbench.add_folder(folder)
            started = time.perf_counter()
            report = workbench.ingest()
            ingest_seconds = time.perf_counter() - started
            chunks = report.embedded
            texts = workbench.library.store.chunks.to_arrow().column("text").to_pylist()
            started = time.perf_counter()
            embedder.embed(texts, batch_size=workbench.settings.embed_batch_size)
            raw_seconds = time.perf_counter() - started
            ingest_rates.append(chunks / ingest_seconds)
            raw_rates.append(len(texts) / raw_seconds)
    ingest_rate, raw_rate = max(ingest_rates), max(raw_rates)
    print(
        json.dumps(
            {
                "files": args.docs,
                "chunks": chunks,
                "ingest_chunks_per_s": round(ingest_rate, 1),
                "raw_embed_chunks_per_s": round(raw_rate, 1),
                "ratio": round(ingest_rate / raw_rate, 3),
                "ingest_files_per_s": round(args.docs / (chunks / ingest_rate), 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
