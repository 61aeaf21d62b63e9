"""An OpenAI-compatible server's ``/v1/embeddings`` as the library's embedder.

Chosen with ``embedder = "NAME"`` in config.toml, where NAME is a ``[backends.NAME]`` block
whose ``model`` is the server's embedding model: a big first ingest then embeds on the
server's GPU. The embedder's id names the block and the model, and every stored vector
carries it, so switching embedders never mixes vectors (the next sync embeds again; a library
built with vectors of another size says so and how to go back). Chunks are cut with MiniLM's
WordPiece tokenizer (the server's own tokenizer is not at hand) to ``max_tokens``. A server
that sends one vector per token (llama.cpp's, for a model without pooling) is mean-pooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.backends.remote.resilience import RemoteError
from workbench.backends.remote.transport import Transport
from workbench.core.index.embedding import MINILM_MAX_TOKENS, minilm_counter

BATCH = 64  # texts per request


@dataclass
class OpenAIEmbedder:
    """Unit vectors from ``POST /embeddings`` (an ``Embedder``)."""

    transport: Transport
    model: str
    max_tokens: int = MINILM_MAX_TOKENS
    _dim: int | None = None
    _counter: Any = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return f"{self.transport.name}:{self.model}@remote"

    @property
    def dim(self) -> int:
        """The server's vector size (asked once, with a one-word text)."""
        if self._dim is None:
            self._dim = int(self.embed(["dimension"]).shape[1])
        return self._dim

    def embed(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        """An (n, dim) float32 array of unit vectors, ``batch_size`` texts per request."""
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        parts = [self._request(list(texts[i : i + batch_size]))
                 for i in range(0, len(texts), batch_size)]  # fmt: skip
        vectors = np.concatenate(parts).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self._dim = int(vectors.shape[1])
        return np.asarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)

    def _request(self, texts: list[str]) -> np.ndarray:
        response = self.transport.request(
            "POST", "/embeddings", body={"model": self.model, "input": texts},
            sent={"texts": len(texts), "bytes": sum(len(t.encode()) for t in texts)},
        )  # fmt: skip
        try:
            rows = sorted(response.json()["data"], key=lambda row: row["index"])
            vectors = np.stack([_pooled(row["embedding"]) for row in rows])
        except (ValueError, KeyError, TypeError):
            vectors = np.zeros((0, 0), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise RemoteError(
                f"'{self.transport.name}' did not answer POST /embeddings with one vector per "
                f"text: does it serve '{self.model}' as an embedding model?",
                retryable=False,
            )
        return vectors

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [
            len(e.ids) for e in self.counter.encode_batch(list(texts), add_special_tokens=False)
        ]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self.counter.encode(text, add_special_tokens=False).offsets)

    @property
    def counter(self) -> Any:
        if self._counter is None:
            self._counter = minilm_counter()
        return self._counter


def _pooled(embedding: Any) -> np.ndarray:
    """One vector: a server that does not pool (llama.cpp's for a model without a pooling
    type) sends one vector per token, which are averaged here."""
    vector = np.asarray(embedding, dtype=np.float32)
    return vector.mean(axis=0) if vector.ndim == 2 else vector
