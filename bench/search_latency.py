"""Search latency p50/p95 on the SciFact index, per mode, next to the bare query embedding.

    uv run python bench/search_latency.py

Uses (and if needed builds) the index that `workbench eval retrieval` keeps for SciFact.
The bare embedding of the query is the part of vector search no index can remove.
"""

from __future__ import annotations

import json
import time

from _common import SCIFACT, summary

from workbench.core.evaluation.retrieval import load_beir
from workbench.core.index.search import search
from workbench.core.index.store import Store
from workbench.workbench import Workbench


def main() -> None:
    workbench = Workbench()
    result = workbench.evaluator.retrieval(SCIFACT, limit=1)  # builds or reuses the index
    home = result["index"]["path"]
    store = Store(__import__("pathlib").Path(home) / "index.lancedb", workbench.embedder.dim)
    _, queries, _ = load_beir(SCIFACT, "test")
    texts = list(queries.values())
    out: dict[str, object] = {"queries": len(texts), "chunks": store.chunk_count()}
    timings = []
    for text in texts:
        started = time.perf_counter()
        workbench.embedder.embed([text])
        timings.append(1000 * (time.perf_counter() - started))
    out["embed_query_ms"] = summary(timings)
    for mode in ("hybrid", "vector", "text"):
        timings = []
        for text in texts:
            started = time.perf_counter()
            search(store, workbench.embedder, text, k=10, mode=mode)
            timings.append(1000 * (time.perf_counter() - started))
        out[f"{mode}_ms"] = summary(timings)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
