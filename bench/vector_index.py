"""Vector search with and without a LanceDB ANN index: latency p50/p95 and recall@10.

    uv run python bench/vector_index.py --out bench/results/vector_index.json

Quick check of the script itself: ``--sizes 20000 --queries 50``. About 25 minutes on
2 cores for the default sizes (the 1M-row index builds are most of it).

Product search today is a flat scan: ``table.search(v, vector_column_name="vector")
.distance_type("cosine").limit(k)`` over 384-d unit vectors (MiniLM). This measures, on
synthetic tables of ``--sizes`` rows and on the real SciFact eval index (~9.6k chunks), that
flat scan next to IVF_PQ, IVF_SQ and IVF_HNSW_SQ indexes: build time, index size, and per
query setting (nprobes, refine_factor, ef) the latency p50/p95 and recall@10 against the
exact top 10 (numpy brute force over the same float32 vectors). The flat scan is timed on
the first ``--flat-queries`` queries only (it takes seconds a query at 1M rows).

Synthetic rows are not uniform noise (ANN recall on that means nothing): each is a real
SciFact chunk vector plus isotropic Gaussian noise of norm ``--noise`` (relative to the unit
vector), renormalised, with a fixed seed; so ~N/9.6k noisy copies of every real chunk. At
the default 0.75 a row's cosine to its seed chunk is ~0.8, the mean cosine of a real chunk
to its nearest other chunk. The noise adds 384-d isotropic spread real embeddings lack and
makes near-ties (the exact top 10 come from ~2-3 seed chunks), so recall here is if anything
a pessimistic estimate. Queries are real SciFact test-query embeddings. The SciFact part
also scores nDCG@10 (document level, as `workbench eval retrieval` does) with each index.

Indexes are built in temporary databases (``--workdir``), never in the eval cache's index.
Progress and a summary table go to stderr, the JSON to stdout (and ``--out``, rewritten
after every index so a stopped run keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
from _common import SCIFACT, report, summary
from lancedb.index import HnswSq, IvfPq, IvfSq

from workbench.core.evaluation.retrieval import load_beir, ndcg_at
from workbench.workbench import Workbench

K = 10
DIM = 384
BATCH = 65_536
SCHEMA = pa.schema([pa.field("row", pa.int64()), pa.field("vector", pa.list_(pa.float32(), DIM))])
STARTED = time.perf_counter()
# Index statistics without the centroids (and without lance's warning about them).
os.environ.setdefault("LANCE_INCLUDE_VECTOR_CENTROIDS", "false")


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# -- the real vectors ------------------------------------------------------------------------


@dataclass
class Real:
    """The SciFact chunks' vectors and paths, and the test queries' embeddings."""

    vectors: np.ndarray
    paths: list[str]
    query_ids: list[str]
    queries: np.ndarray
    qrels: dict[str, dict[str, int]]


def real_vectors() -> Real:
    workbench = Workbench()
    result = workbench.evaluator.retrieval(SCIFACT, limit=1)  # builds or reuses the index
    db = lancedb.connect(Path(result["index"]["path"]) / "index.lancedb")
    chunks = db.open_table("chunks").search().select(["path", "vector"]).limit(None).to_arrow()
    vectors = as_matrix(chunks.column("vector"))
    _, queries, qrels = load_beir(SCIFACT, "test")
    query_ids = sorted(queries)
    embedded = workbench.embedder.embed([queries[q] for q in query_ids])
    return Real(vectors, chunks.column("path").to_pylist(), query_ids, embedded, qrels)


def as_matrix(column: pa.ChunkedArray) -> np.ndarray:
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(flat.reshape(-1, DIM), dtype=np.float32)


# -- tables and the exact top 10 -----------------------------------------------------------


class ExactTopK:
    """The exact top ``K`` rows by cosine for each query, fed one batch of rows at a time."""

    def __init__(self, queries: np.ndarray) -> None:
        self.queries = queries
        self.scores = np.full((len(queries), K), -np.inf, dtype=np.float32)
        self.rows = np.full((len(queries), K), -1, dtype=np.int64)

    def add(self, start: int, vectors: np.ndarray) -> None:
        scores = self.queries @ vectors.T
        top = np.argpartition(-scores, K - 1, axis=1)[:, :K] if scores.shape[1] > K else None
        if top is None:
            top = np.broadcast_to(np.arange(scores.shape[1]), (len(scores), scores.shape[1]))
        merged_scores = np.concatenate([self.scores, np.take_along_axis(scores, top, 1)], 1)
        merged_rows = np.concatenate([self.rows, top + start], 1)
        order = np.argsort(-merged_scores, axis=1, kind="stable")[:, :K]
        self.scores = np.take_along_axis(merged_scores, order, 1)
        self.rows = np.take_along_axis(merged_rows, order, 1)


def record_batch(start: int, vectors: np.ndarray) -> pa.RecordBatch:
    rows = pa.array(np.arange(start, start + len(vectors), dtype=np.int64))
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)
    return pa.RecordBatch.from_arrays([rows, column], schema=SCHEMA)


def synthetic(
    seeds: np.ndarray, rows: int, noise: float, seed: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``rows`` vectors, each a random seed vector plus Gaussian noise of expected norm
    ``noise``, renormalised; yields (first row, seed index per row, vectors) per batch."""
    rng = np.random.default_rng(seed)
    sigma = noise / math.sqrt(DIM)
    for start in range(0, rows, BATCH):
        count = min(BATCH, rows - start)
        picks = rng.integers(0, len(seeds), count)
        vectors = seeds[picks] + rng.normal(0.0, sigma, (count, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield start, picks, vectors


def write_synthetic(
    db: Any, real: Real, queries: np.ndarray, rows: int, noise: float, seed: int
) -> tuple[Any, ExactTopK, np.ndarray]:
    """The table, the exact top 10 of each query, and each row's seed chunk."""
    exact = ExactTopK(queries)
    seeds_of = np.zeros(rows, dtype=np.int32)

    def batches() -> Iterator[pa.RecordBatch]:
        for start, picks, vectors in synthetic(real.vectors, rows, noise, seed):
            exact.add(start, vectors)
            seeds_of[start : start + len(picks)] = picks
            yield record_batch(start, vectors)

    table = db.create_table(f"synthetic_{rows}", data=batches(), schema=SCHEMA)
    return table, exact, seeds_of


# -- searching ------------------------------------------------------------------------------


@dataclass
class Variant:
    """One index to build (None: the flat scan) and the query settings to try on it."""

    name: str
    config: Any
    settings: list[dict[str, int | None]] = field(default_factory=lambda: [{}])


def search(table: Any, vector: np.ndarray, limit: int, setting: dict[str, int | None]) -> Any:
    builder = table.search(vector, vector_column_name="vector").distance_type("cosine")
    if setting.get("nprobes"):
        builder = builder.nprobes(setting["nprobes"])
    if setting.get("refine_factor"):
        builder = builder.refine_factor(setting["refine_factor"])
    if setting.get("ef"):
        # LanceDB refuses ef below the rows the graph must return ("ef must be greater than
        # or equal to k"): limit, times refine_factor when refining.
        builder = builder.ef(max(setting["ef"], limit * (setting.get("refine_factor") or 1)))
    return builder.select(["row", "_distance"]).limit(limit).to_arrow()


def measure(
    table: Any, queries: np.ndarray, exact: np.ndarray, setting: dict[str, int | None],
    warmup: int,
) -> dict[str, Any]:  # fmt: skip
    """Latency and recall@10 of ``setting`` over ``queries`` (after ``warmup`` of them)."""
    for vector in queries[:warmup]:
        search(table, vector, K, setting)
    timings, recalls = [], []
    for vector, truth in zip(queries, exact, strict=True):
        started = time.perf_counter()
        found = search(table, vector, K, setting).column("row").to_pylist()
        timings.append(1000 * (time.perf_counter() - started))
        recalls.append(len(set(found) & set(truth.tolist())) / K)
    latency = summary(timings)
    return {
        "p50_ms": latency["p50"],
        "p95_ms": latency["p95"],
        "mean_ms": latency["mean"],
        "recall_at_10": round(statistics.fmean(recalls), 4),
        "recall_at_10_min": min(recalls),
        "queries": len(timings),
    }


def build(table: Any, config: Any) -> dict[str, Any]:
    started = time.perf_counter()
    table.create_index("vector", config=config, replace=True)
    seconds = time.perf_counter() - started
    info = next(index for index in table.list_indices() if "vector" in index.columns)
    return {
        "build_s": round(seconds, 2),
        "index_type": info.index_type,
        "index_mb": round((info.size_bytes or 0) / 2**20, 2),
        "partitions": partitions(table, info.name),
        "sub_vectors": (info.index_details or {}).get("compression", {}).get("num_sub_vectors"),
    }


def partitions(table: Any, name: str) -> int | None:
    """The IVF partition count the index ended up with (LanceDB picks one when not told)."""
    try:
        stats = table.to_lance().stats.index_stats(name)
        return int(stats["indices"][0]["num_partitions"])
    except Exception:  # informational only
        return None


def ivf_pq(partitions: int, sub_vectors: int) -> IvfPq:
    return IvfPq(distance_type="cosine", num_partitions=partitions, num_sub_vectors=sub_vectors)


def hnsw_sq(partitions: int) -> HnswSq:
    """HNSW graphs (one per IVF partition) over 8-bit scalar-quantised vectors."""
    return HnswSq(distance_type="cosine", num_partitions=partitions, m=20, ef_construction=150)


def variants(rows: int, every: bool = False) -> list[Variant]:
    """What to build at ``rows`` rows.

    IVF partitions are sqrt(rows) (LanceDB trains at most rows/256 of them for PQ);
    partitioned HNSW has a graph per ~8k rows. LanceDB's defaults (rows/8192 partitions,
    24 sub-vectors) and one HNSW graph over all rows (~30-50 s at 100k rows on 2 cores,
    ~10 min projected at 1M) are left out above 100k rows unless ``every``.
    """
    parts = max(1, round(math.sqrt(rows)))
    graphs = max(1, round(rows / 8192))
    pq = [
        {"nprobes": probes, "refine_factor": refine}
        for probes in (10, 20, 50, 100)
        for refine in (None, 10, 30, 100)
    ]
    sq = [
        {"nprobes": probes, "refine_factor": refine}
        for probes in (10, 20, 50, 100, 200)
        for refine in (None, 10)
    ]
    hnsw = [{"ef": ef} for ef in (20, 50, 100, 200)] + [{"ef": 100, "refine_factor": 10}]
    hnsw_ivf = [{"nprobes": probes, "ef": ef} for probes in (10, 20, 50) for ef in (50, 100, 200)]
    hnsw_ivf += [{"nprobes": probes, "ef": 100, "refine_factor": 10} for probes in (20, 50)]
    defaults = [{}, {"refine_factor": 10}, {"nprobes": 50, "refine_factor": 10}]
    sq_config = IvfSq(distance_type="cosine", num_partitions=parts)
    todo: list[tuple[Variant, int | None]] = [  # (variant, most rows it is built for)
        (Variant(f"ivf_pq p={parts} m=48", ivf_pq(parts, 48), pq), None),
        (Variant(f"ivf_sq p={parts}", sq_config, sq), None),
        (Variant(f"ivf_pq p={parts} m=96", ivf_pq(parts, 96), pq), None),
        (Variant("ivf_pq lancedb defaults", IvfPq(distance_type="cosine"), defaults), 100_000),
        (Variant("ivf_hnsw_sq p=1 m=20 efc=150", hnsw_sq(1), hnsw), 100_000),
    ]
    if graphs > 1:
        name = f"ivf_hnsw_sq p={graphs} m=20 efc=150"
        todo.insert(2, (Variant(name, hnsw_sq(graphs), hnsw_ivf), None))
    return [variant for variant, most in todo if every or most is None or rows <= most]


def run_variants(
    table: Any, rows: int, queries: np.ndarray, exact: np.ndarray, todo: list[Variant],
    warmup: int, dataset: str, results: list[dict[str, Any]], save: Callable[[], None],
    extra: Any = None,
) -> None:  # fmt: skip
    """Build each variant's index in turn (replacing the last) and measure its settings."""
    for variant in todo:
        log(f"{dataset}: building {variant.name}")
        built = build(table, variant.config)
        log(f"{dataset}: built {variant.name} in {built['build_s']} s")
        for setting in variant.settings:
            row = {"dataset": dataset, "rows": rows, "variant": variant.name, **built}
            row["search"] = {name: value for name, value in setting.items() if value}
            row.update(measure(table, queries, exact, setting, warmup))
            if extra:
                row.update(extra(setting))
            results.append(row)
            log(f"  {describe(row)}")
        save()


def describe(row: dict[str, Any]) -> str:
    search_text = " ".join(f"{key}={value}" for key, value in row["search"].items()) or "-"
    return (
        f"{row['variant']:<30} {search_text:<26} p50 {row['p50_ms']:8.2f} ms  "
        f"p95 {row['p95_ms']:8.2f} ms  recall@10 {row['recall_at_10']:.4f}"
    )


# -- the two parts --------------------------------------------------------------------------


def run_synthetic(
    real: Real, rows: int, args: argparse.Namespace, results: list[dict[str, Any]],
    save: Callable[[], None],
) -> dict[str, Any]:  # fmt: skip
    queries = real.queries[: args.queries]
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="vector_index-") as folder:
        db = lancedb.connect(folder)
        log(f"synthetic {rows}: writing")
        started = time.perf_counter()
        table, exact, seeds_of = write_synthetic(db, real, queries, rows, args.noise, args.seed)
        write_s = time.perf_counter() - started
        dataset = f"synthetic-{rows}"
        about = {
            "rows": rows,
            "write_s": round(write_s, 2),
            "table_mb": round(folder_mb(Path(folder)), 1),
            # How hard the neighbourhoods are: cosine of the exact 1st and 10th neighbour, and
            # how many different seed chunks the exact top 10 come from.
            "exact_cos_top1": round(float(exact.scores[:, 0].mean()), 4),
            "exact_cos_top10": round(float(exact.scores[:, -1].mean()), 4),
            "exact_top10_distinct_seeds": round(
                statistics.fmean(len(set(seeds_of[r].tolist())) for r in exact.rows), 2
            ),
        }
        log(f"synthetic {rows}: written in {write_s:.1f} s; {about}")
        flat = Variant("flat (no index)", None)
        flat_queries = queries[: args.flat_queries or len(queries)]
        row = {"dataset": dataset, "rows": rows, "variant": flat.name, "build_s": 0.0}
        row["search"] = {}
        row.update(measure(table, flat_queries, exact.rows[: len(flat_queries)], {}, args.warmup))
        results.append(row)
        log(f"  {describe(row)}")
        todo = variants(rows, args.every_variant)
        run_variants(table, rows, queries, exact.rows, todo, args.warmup, dataset, results, save)
    return about


def run_scifact(
    real: Real, args: argparse.Namespace, results: list[dict[str, Any]], save: Callable[[], None]
) -> dict[str, Any]:
    """ANN recall and nDCG@10 on a copy of the real SciFact chunks (all test queries)."""
    rows = len(real.vectors)
    exact = ExactTopK(real.queries)
    exact.add(0, real.vectors)
    doc_of = [Path(path).stem for path in real.paths]

    def ndcg(table: Any, setting: dict[str, int | None]) -> dict[str, float]:
        total = 0.0
        for query_id, vector in zip(real.query_ids, real.queries, strict=True):
            hits = search(table, vector, 50, setting).column("row").to_pylist()
            ranked = list(dict.fromkeys(doc_of[hit] for hit in hits))
            total += ndcg_at(ranked, real.qrels[query_id], 10)
        return {"ndcg_at_10": round(total / len(real.query_ids), 4)}

    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="vector_index-") as folder:
        db = lancedb.connect(folder)
        table = db.create_table("chunks", data=[record_batch(0, real.vectors)], schema=SCHEMA)
        row = {"dataset": "scifact", "rows": rows, "variant": "flat (no index)", "build_s": 0.0}
        row["search"] = {}
        row.update(measure(table, real.queries, exact.rows, {}, args.warmup))
        row.update(ndcg(table, {}))
        results.append(row)
        log(f"  {describe(row)}")
        todo = variants(rows, args.every_variant)
        run_variants(
            table, rows, real.queries, exact.rows, todo, args.warmup, "scifact", results, save,
            extra=lambda setting: ndcg(table, setting),
        )  # fmt: skip
    return {"rows": rows, "queries": len(real.query_ids)}


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def checkpoint(out: dict[str, Any], path: str) -> None:
    """The results so far, in case a later (bigger) part is stopped."""
    if path:
        Path(path).write_text(json.dumps({**out, "partial": True}, indent=2))


def summary_table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'dataset':<18} {'rows':>9} {'build_s':>8} {'index_mb':>8}  search"]
    for row in results:
        lines.append(
            f"{row['dataset']:<18} {row['rows']:>9} {row['build_s']:>8} "
            f"{row.get('index_mb', 0):>8}  {describe(row)}"
            + (f"  nDCG@10 {row['ndcg_at_10']:.4f}" if "ndcg_at_10" in row else "")
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="synthetic table sizes")
    parser.add_argument("--queries", type=int, default=200, help="queries per synthetic size")
    parser.add_argument("--flat-queries", type=int, default=50, help="fewer for the flat scan")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.75, help="noise norm per vector")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every-variant", action="store_true", help="slow builds at any size")
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument("--workdir", default=None, help="where the temporary tables go")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    log("loading the SciFact index and embedding the test queries")
    real = real_vectors()
    log(f"{len(real.vectors)} SciFact chunks, {len(real.queries)} test queries")
    results: list[dict[str, Any]] = []
    out: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "lancedb": lancedb.__version__,
            "numpy": np.__version__,
        },
        "k": K,
        "queries": min(args.queries, len(real.queries)),
        "noise": args.noise,
        "seed": args.seed,
        "synthetic": [],
    }
    out["results"] = results

    def save() -> None:
        checkpoint(out, args.out)

    if not args.skip_scifact:
        out["scifact"] = run_scifact(real, args, results, save)
    for rows in (int(size) for size in args.sizes.split(",") if size):
        out["synthetic"].append(run_synthetic(real, rows, args, results, save))
    out["total_s"] = round(time.perf_counter() - STARTED, 1)
    print(summary_table(results), file=sys.stderr)
    report(out, args.out)


if __name__ == "__main__":
    main()
