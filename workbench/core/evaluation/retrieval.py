"""Retrieval evaluation on BEIR-layout datasets (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).

The corpus is written as one markdown file per document ("# title" then the text) into a
folder of its own and indexed by the same incremental sync as any library, into its own
store; a second run reuses it. Chunk hits are collapsed to documents (best rank wins).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.core.extraction.registry import ExtractorRegistry
from workbench.core.index.library import Library
from workbench.core.index.search import SearchResult
from workbench.errors import WorkbenchError

MODES = ("hybrid", "vector", "text")


def load_beir(
    dataset_dir: Path, split: str
) -> tuple[Path, dict[str, str], dict[str, dict[str, int]]]:
    corpus = dataset_dir / "corpus.jsonl"
    queries_file = dataset_dir / "queries.jsonl"
    qrels_file = dataset_dir / "qrels" / f"{split}.tsv"
    for needed in (corpus, queries_file, qrels_file):
        if not needed.is_file():
            raise WorkbenchError(
                f"{needed} is missing. A BEIR dataset folder holds corpus.jsonl, queries.jsonl "
                f"and qrels/{split}.tsv.",
                "Not a BEIR dataset",
            )
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {}
    with queries_file.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                if item["_id"] in qrels:
                    queries[item["_id"]] = item["text"]
    return corpus, queries, qrels


def materialize_corpus(corpus: Path, folder: Path) -> int:
    """Write each document as ``<id>.md``; files already there with that content are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            doc = json.loads(line)
            body = f"# {doc.get('title', '').strip()}\n\n{doc.get('text', '').strip()}\n"
            target = folder / f"{safe_id(doc['_id'])}.md"
            if not target.exists() or target.read_text(encoding="utf-8") != body:
                target.write_text(body, encoding="utf-8")
                written += 1
    return written


def safe_id(doc_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in doc_id)


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(i + 2) for i, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    positives = {doc for doc, gain in relevant.items() if gain > 0}
    return len(positives & set(ranked[:k])) / len(positives) if positives else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def run_retrieval_eval(
    eval_dir: Path,
    registry: ExtractorRegistry,
    embedder: Any,
    settings: Settings,
    dataset_dir: str | Path,
    *,
    split: str = "test",
    mode: str = "hybrid",
    limit: int | None = None,
    on_progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Index the dataset (incrementally, into a Library of its own under ``eval_dir``) and
    score every mode; returns the `workbench eval retrieval --json` contract."""
    if mode not in MODES:
        raise WorkbenchError(f"Unknown mode '{mode}'. Use one of: {', '.join(MODES)}.", "Bad mode")
    dataset_dir = Path(dataset_dir).expanduser().resolve()
    corpus, queries, qrels = load_beir(dataset_dir, split)
    digest = hashlib.sha256(str(dataset_dir).encode()).hexdigest()[:10]
    home = eval_dir / f"{dataset_dir.name}-{digest}"
    docs = home / "docs"
    on_progress(f"Writing the corpus to {docs}")
    materialize_corpus(corpus, docs)
    library = Library(home / "index.lancedb", home / "write.lock", registry, embedder, settings)
    on_progress("Indexing (incremental: a second run reuses the index)")
    started = time.perf_counter()
    report = library.syncer.sync([str(docs)])
    index_seconds = time.perf_counter() - started
    query_ids = sorted(queries)[:limit] if limit else sorted(queries)
    by_mode = {}
    for name in MODES:
        on_progress(f"Scoring {len(query_ids)} queries, {name} search")
        by_mode[name] = score_mode(library, name, {q: queries[q] for q in query_ids}, qrels)
    top = by_mode[mode]
    return {
        "ndcg@10": top["ndcg@10"],
        "recall@100": top["recall@100"],
        "mrr@10": top["mrr@10"],
        "queries": len(query_ids),
        "mode": mode,
        "by_mode": by_mode,
        "dataset": dataset_dir.name,
        "split": split,
        "index": {"path": str(home), "seconds": round(index_seconds, 2), **report.as_json()},
    }


def score_mode(
    library: Library, mode: str, queries: dict[str, str], qrels: dict[str, dict[str, int]]
) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR@10 of one search mode, and its time per query."""
    totals = {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    started = time.perf_counter()
    for query_id, text in queries.items():
        ranked = _documents(library.search(text, k=300, mode=mode, candidates=300))
        relevant = qrels[query_id]
        totals["ndcg@10"] += ndcg_at(ranked, relevant, 10)
        totals["recall@100"] += recall_at(ranked, relevant, 100)
        totals["mrr@10"] += mrr_at(ranked, relevant, 10)
    elapsed = time.perf_counter() - started
    count = max(1, len(queries))
    scores = {metric: round(value / count, 4) for metric, value in totals.items()}
    scores["ms_per_query"] = round(1000 * elapsed / count, 2)
    return scores


def _documents(hits: list[SearchResult]) -> list[str]:
    ranked: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        doc = Path(hit.path).stem
        if doc not in seen:
            seen.add(doc)
            ranked.append(doc)
    return ranked
