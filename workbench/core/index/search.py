"""Search the library: vector (MiniLM), full text (LanceDB BM25) or both fused by RRF."""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any

from workbench.core import telemetry
from workbench.core.index.store import Store, sql_str
from workbench.core.telemetry import genai
from workbench.errors import WorkbenchError

# How an ANN-indexed search reads (store.VECTOR_INDEX_ROWS): IVF partitions probed, and how
# many times k candidates are re-ranked by exact distance (bench/vector_index.py).
NPROBES = 200
REFINE_FACTOR = 10

MODES = ("hybrid", "vector", "text")
_COLUMNS = ["id", "path", "ordinal", "text", "kind", "locator"]


@dataclass
class SearchResult:
    """One chunk that matched, with where it is and how well it matched."""

    id: str
    path: str
    locator: dict[str, Any]
    score: float
    text: str
    kind: str
    ordinal: int

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "locator": self.locator,
            "score": round(self.score, 6),
            "text": self.text,
            "kind": self.kind,
        }


def normalise_glob(pattern: str) -> str:
    """``pattern`` with ``.``/``..`` segments and doubled slashes resolved, as stored paths
    are (``/x/d1/../d2/*`` is ``/x/d2/*``); a trailing slash means everything below."""
    if not pattern:
        return pattern
    folder_only = pattern.endswith("/")
    normalised = posixpath.normpath(os.path.expanduser(pattern))
    if normalised.startswith("//"):  # POSIX keeps a leading double slash
        normalised = "/" + normalised.lstrip("/")
    return normalised.rstrip("/") + "/*" if folder_only else normalised


def glob_to_like(pattern: str) -> str:
    """A shell glob as a SQL LIKE pattern; patterns not starting with / match anywhere."""
    pattern = normalise_glob(pattern)
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = escaped.replace("**", "*").replace("*", "%").replace("?", "_")
    return like if pattern.startswith("/") else "%" + like


def build_filter(kind: str | None = None, path_glob: str | None = None) -> str | None:
    clauses = []
    if kind:
        clauses.append(f"kind = {sql_str(kind)}")
    if path_glob:
        clauses.append(f"path LIKE {sql_str(glob_to_like(path_glob))} ESCAPE '\\'")
    return " AND ".join(clauses) or None


def search(
    store: Store,
    embedder: Any,
    query: str,
    *,
    k: int = 10,
    mode: str = "hybrid",
    kind: str | None = None,
    path_glob: str | None = None,
    rrf_k: int = 60,
    candidates: int | None = None,
    query_vector: Any = None,
) -> list[SearchResult]:
    """The ``k`` best chunks for ``query``.

    ``query_vector`` is the query's embedding when the caller already has it (it is used
    again to score relevance), so the question is embedded once.

    Hybrid runs both searches for ``candidates`` results each (default max(50, 3k)) and fuses
    them by reciprocal rank: score = sum of 1 / (rrf_k + rank) over the lists a chunk is in.
    """
    if mode not in MODES:
        raise WorkbenchError(
            f"Unknown search mode '{mode}'. Use one of: {', '.join(MODES)}.", "Bad search"
        )
    if not query.strip():
        raise WorkbenchError(
            "The search query is empty. Type some words to search for.", "Bad search"
        )
    watch = telemetry.Stopwatch()
    with genai.retrieval(query, mode, k) as current:
        results = _search(store, embedder, query, k, mode, kind, path_glob, rrf_k, candidates,
                          query_vector)  # fmt: skip
        genai.retrieved(current, results)
    telemetry.SEARCH_DURATION.record(watch.seconds, {"workbench.search.mode": mode})
    return results


def _search(
    store: Store, embedder: Any, query: str, k: int, mode: str, kind: str | None,
    path_glob: str | None, rrf_k: int, candidates: int | None, query_vector: Any,
) -> list[SearchResult]:  # fmt: skip
    if store.chunk_count() == 0:
        return []
    where = build_filter(kind, path_glob)
    pool = candidates or max(50, 3 * k)
    if mode == "vector":
        return vector_search(store, embedder, query, k, where, query_vector)
    if mode == "text":
        return text_search(store, query, k, where)
    vector_hits = vector_search(store, embedder, query, pool, where, query_vector)
    text_hits = text_search(store, query, pool, where)
    return fuse([vector_hits, text_hits], k, rrf_k)


def vector_search(
    store: Store, embedder: Any, query: str, k: int, where: str | None, vector: Any = None
) -> list[SearchResult]:
    if vector is None:
        with genai.embedding(embedder, 1):
            vector = embedder.embed([query])[0]
    builder = (
        store.chunks.search(vector, vector_column_name="vector")
        .distance_type("cosine")
        .nprobes(NPROBES)  # with an ANN index (large libraries); a flat scan ignores them
        .refine_factor(REFINE_FACTOR)
    )
    if where:
        builder = builder.where(where, prefilter=True)
    rows = builder.select([*_COLUMNS, "_distance"]).limit(k).to_arrow().to_pylist()
    return [_result(row, 1.0 - float(row["_distance"])) for row in rows]


def text_search(store: Store, query: str, k: int, where: str | None) -> list[SearchResult]:
    if not _has_fts_index(store):
        return []
    builder = store.chunks.search(query, query_type="fts", fts_columns="text")
    if where:
        builder = builder.where(where, prefilter=True)
    rows = builder.select([*_COLUMNS, "_score"]).limit(k).to_arrow().to_pylist()
    return [_result(row, float(row["_score"])) for row in rows]


def fuse(result_lists: list[list[SearchResult]], k: int, rrf_k: int = 60) -> list[SearchResult]:
    """Reciprocal rank fusion of several ranked lists."""
    fused: dict[str, SearchResult] = {}
    scores: dict[str, float] = {}
    for results in result_lists:
        for rank, result in enumerate(results, start=1):
            fused.setdefault(result.id, result)
            scores[result.id] = scores.get(result.id, 0.0) + 1.0 / (rrf_k + rank)
    ranked = sorted(scores, key=lambda key: scores[key], reverse=True)[:k]
    out = []
    for key in ranked:
        result = fused[key]
        result.score = scores[key]
        out.append(result)
    return out


def _has_fts_index(store: Store) -> bool:
    return any("text" in index.name for index in store.chunks.list_indices())


def _result(row: dict[str, Any], score: float) -> SearchResult:
    return SearchResult(
        id=row["id"],
        path=row["path"],
        locator=json.loads(row["locator"] or "{}"),
        score=score,
        text=row["text"],
        kind=row["kind"],
        ordinal=row["ordinal"],
    )
