"""Past VECTOR_INDEX_ROWS chunks the library builds an IVF-PQ index on the vectors, and vector
search through it (probed, then re-ranked by exact distance) finds what a flat scan finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.core.index import store as store_module
from workbench.core.index.search import vector_search
from workbench.core.index.store import Store

DIM = 384


def clustered(rng: np.random.Generator, rows: int, centres: np.ndarray) -> np.ndarray:
    """Vectors around random centres (real embeddings cluster; uniform noise does not)."""
    picked = centres[rng.integers(0, len(centres), rows)]
    vectors = picked + rng.normal(0, 0.35, (rows, DIM)) / np.sqrt(DIM) * 4
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_a_large_library_gets_an_ann_index_with_high_recall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "VECTOR_INDEX_ROWS", 3000)
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(40, DIM))
    vectors = clustered(rng, 4000, centres)
    store = Store(tmp_path / "lib.lancedb", DIM)
    rows = [
        {"id": f"c{i}", "path": f"/docs/{i // 4}.md", "ordinal": i % 4, "text": f"chunk {i}",
         "text_hash": f"h{i}", "vector": vector.tolist(), "kind": "md", "locator": "{}",
         "embedder": "test", "file_hash": "f"}
        for i, vector in enumerate(vectors[:2000])
    ]  # fmt: skip
    store.add_chunks(rows)
    store.refresh_indexes()
    assert not any("vector" in index.name for index in store.chunks.list_indices())

    more = [
        row | {"id": f"d{i}", "vector": vectors[2000 + i].tolist()} for i, row in enumerate(rows)
    ]
    store.add_chunks(more)  # 4,000 rows now
    assert store.refresh_indexes(force=False)  # built at once, not when it is next due
    names = [index.name for index in store.chunks.list_indices()]
    assert any("vector" in name for name in names)

    queries = clustered(rng, 50, centres)
    stored = vectors
    ids = [f"c{i}" for i in range(2000)] + [f"d{i}" for i in range(2000)]
    found = 0
    for query in queries:
        exact = np.argsort(-(stored @ query))[:10]
        truth = {ids[i] for i in exact}
        hits = vector_search(store, None, "", 10, None, vector=query)
        found += len(truth & {hit.id for hit in hits})
    assert found / (10 * len(queries)) >= 0.9
