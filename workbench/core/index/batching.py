"""The second half of a sync: embed prepared files' chunks in groups, then commit them.

A batch collects files the sync has prepared (extracted and chunked). Their chunks are
embedded in groups as they arrive, reusing vectors from the store's cache by text hash, and
the batch is written in crash-safe order: the files' chunks first, then their ``files`` rows
(the commit marker, see ``store``). Inside ``yielding`` the writer pauses between embedding
batches (and the sync between files, through ``pause``) while an answer or a search runs
(``core/foreground``).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.config import Settings
from workbench.core import telemetry
from workbench.core.foreground import Background, embed_threads, signal_file
from workbench.core.index.chunking import Chunk, text_hash
from workbench.core.index.store import FileRecord, Store
from workbench.core.telemetry import genai

if TYPE_CHECKING:  # sync imports this module; the report is only read and counted here
    from workbench.core.index.sync import SyncReport

BATCH_CHUNKS = 256
BATCH_FILES = 500
# Chunks are embedded in groups as files are prepared, so a commit that is due has little
# left to embed and lands on time: a group is what the embedder does in EMBED_GROUP_S at its
# measured speed (long chunks embed at ~14/s on 2 cores, short ones at ~140/s), within these
# bounds. Bigger groups pad less, so throughput stays that of one big batch.
EMBED_GROUP_S = 3.0
EMBED_GROUP_MIN, EMBED_GROUP_MAX = 32, 256


def chunk_id(path: str, ordinal: int) -> str:
    """The id of chunk ``ordinal`` of the file at ``path``."""
    return hashlib.sha1(f"{path}\0{ordinal}".encode()).hexdigest()[:24]


@dataclass
class Prepared:
    """One file made ready to commit: its record, and new chunks or rows copied on rename."""

    record: FileRecord
    chunks: list[Chunk] = field(default_factory=list)
    copied_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Batch:
    """Files prepared since the last commit, and the vectors of their chunks so far."""

    files: list[Prepared] = field(default_factory=list)
    vectors: dict[str, Any] = field(default_factory=dict)
    uncached: dict[str, Any] = field(default_factory=dict)  # embedded now, not yet cached
    unembedded: list[Chunk] = field(default_factory=list)

    def add(self, prepared: Prepared) -> None:
        self.files.append(prepared)
        self.unembedded.extend(prepared.chunks)

    def chunk_count(self) -> int:
        return sum(len(p.chunks) for p in self.files)

    def full(self) -> bool:
        """Whether the batch is big enough to commit whatever the time."""
        return self.chunk_count() >= BATCH_CHUNKS or len(self.files) >= BATCH_FILES


class BatchWriter:
    """Embeds and commits batches; remembers the embedder's speed and the cached keys."""

    def __init__(self, store: Store, embedder: Any, settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self._cached_keys: set[str] | None = None
        self._embed_rate = 0.0  # chunks per second, measured on this process's embed calls
        self._background: Background | None = None
        self._should_stop: Callable[[], bool] = lambda: False
        self._takes_threads = _takes_threads(embedder)
        # A sync engine that embeds elsewhere (``engines.RayEngine.embed``), or None: here.
        self.embed_elsewhere: Callable[[list[str]], np.ndarray] | None = None

    @contextlib.contextmanager
    def yielding(self, should_stop: Callable[[], bool]) -> Iterator[Background | None]:
        """For the block, ``pause`` and embedding yield to answers and searches (in other
        processes on this library too); a ``sync_max_pause_s`` of 0 turns that off."""
        limit = self.settings.sync_max_pause_s
        if limit <= 0:
            yield None
            return
        threads = embed_threads(self.settings.embed_threads)
        with Background(
            threads=threads, max_pause_s=limit, signal=signal_file(self.store.lock_file)
        ) as background:
            self._background, self._should_stop = background, should_stop
            try:
                yield background
            finally:
                self._background, self._should_stop = None, lambda: False

    def pause(self) -> None:
        """A yield point: parks while foreground work runs (see ``yielding``)."""
        if self._background is not None:
            self._background.wait_for_turn(self._should_stop)

    def embed_group(self) -> int:
        """How many chunks to embed at once: about EMBED_GROUP_S of work."""
        wanted = int(self._embed_rate * EMBED_GROUP_S)
        return min(EMBED_GROUP_MAX, max(EMBED_GROUP_MIN, wanted))

    def embed(self, batch: Batch, report: SyncReport) -> None:
        """Vectors for the chunks added to the batch since the last call."""
        texts = [chunk.text for chunk in batch.unembedded]
        fresh = [text for text in texts if text_hash(text) not in batch.vectors]
        report.reused += len(texts) - len(fresh)
        batch.vectors.update(self._vectors(fresh, report, batch))
        batch.unembedded = []

    def flush(self, batch: Batch, report: SyncReport) -> None:
        """Commit the batch: cache new vectors, replace its files' chunks, then their rows."""
        if not batch.files:
            return
        attributes = {"workbench.batch.files": len(batch.files),
                      "workbench.batch.chunks": batch.chunk_count()}  # fmt: skip
        with telemetry.span("sync batch", attributes):
            self.embed(batch, report)
            rows: list[dict[str, Any]] = []
            for prepared in batch.files:
                rows.extend(prepared.copied_rows)
                rows.extend(self._chunk_rows(prepared, batch.vectors))
            # Order matters for crash safety: chunks first, then the files rows (commit marker).
            touched = [
                p.record.path
                for p in batch.files
                if p.chunks or p.copied_rows or p.record.status != "indexed"
            ]
            self._cache_new_vectors(batch)
            report.chunks_deleted += self.store.delete_chunks(touched)
            self.store.add_chunks(rows)
            self.store.upsert_files([p.record for p in batch.files])

    def _chunk_rows(self, prepared: Prepared, vectors: dict[str, Any]) -> list[dict[str, Any]]:
        record = prepared.record
        return [
            {
                "id": chunk_id(record.path, chunk.ordinal),
                "path": record.path,
                "ordinal": chunk.ordinal,
                "text": chunk.text,
                "text_hash": chunk.text_hash,
                "vector": vectors[chunk.text_hash],
                "kind": record.kind,
                "locator": json.dumps(chunk.locator, separators=(",", ":")),
                "embedder": self.embedder.id,
                "file_hash": record.hash,
            }
            for chunk in prepared.chunks
        ]

    def _cache_new_vectors(self, batch: Batch) -> None:
        if not batch.uncached:
            return
        prefix = f"{self.embedder.id}:"
        keys = list(batch.uncached)
        self.store.cache_vectors([prefix + k for k in keys], list(batch.uncached.values()))
        if self._cached_keys is not None:
            self._cached_keys.update(prefix + k for k in keys)

    def _vectors(self, texts: list[str], report: SyncReport, batch: Batch) -> dict[str, Any]:
        """Vectors by text hash: from the cache where seen before, embedded otherwise (new
        vectors join the cache when the batch is committed)."""
        by_hash = {text_hash(text): text for text in texts}
        prefix = f"{self.embedder.id}:"
        if self._cached_keys is None:
            self._cached_keys = self.store.cached_keys()
        hits = [h for h in by_hash if prefix + h in self._cached_keys]
        vectors: dict[str, Any] = {}
        if hits:
            cached = self.store.cached_vectors(prefix + h for h in hits)
            vectors.update({key[len(prefix) :]: vector for key, vector in cached.items()})
        missing = [h for h in by_hash if h not in vectors]
        if missing:
            fresh = self._embed_texts(missing, by_hash)
            vectors.update(fresh)
            batch.uncached.update(fresh)
        report.embedded += len(missing)
        report.reused += len(texts) - len(missing)
        return vectors

    def _embed_texts(self, hashes: list[str], by_hash: dict[str, str]) -> dict[str, Any]:
        """Embed the texts of ``hashes``, updating the measured embedding speed."""
        texts = [by_hash[h] for h in hashes]
        if self.embed_elsewhere is not None:
            with genai.embedding(self.embedder, len(texts)):
                began = time.perf_counter()
                embedded = self.embed_elsewhere(texts)
                seconds = time.perf_counter() - began
        elif self._background is None:
            began = time.perf_counter()
            embedded = self._embed(texts)
            seconds = time.perf_counter() - began
        else:
            embedded, seconds = self._embed_yielding(texts)
        rate = len(hashes) / max(seconds, 1e-6)
        self._embed_rate = rate if not self._embed_rate else 0.5 * (self._embed_rate + rate)
        return dict(zip(hashes, embedded.tolist(), strict=True))

    def _embed_yielding(self, texts: list[str]) -> tuple[np.ndarray, float]:
        """Embed one batch at a time with a yield point before each; returns the vectors and
        the seconds spent embedding (pauses left out, so the measured speed stays true).

        Texts of similar length go together, as the embedder itself would order them.
        """
        size = self.settings.embed_batch_size
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        seconds = 0.0
        for start in range(0, len(order), size):
            self.pause()
            index = order[start : start + size]
            began = time.perf_counter()
            out[index] = self._embed([texts[i] for i in index])
            seconds += time.perf_counter() - began
        return out, seconds

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embed on the sync's own session and threads while yielding (or when embed_threads
        is set); otherwise on the embedder's default session, as searches do."""
        size = self.settings.embed_batch_size
        threads = embed_threads(self.settings.embed_threads) if self.settings.embed_threads else 0
        if self._background is not None:
            threads = self._background.threads
        options = {"threads": threads} if threads and self._takes_threads else {}
        with genai.embedding(self.embedder, len(texts)):
            if self._background is None:
                return np.asarray(self.embedder.embed(texts, batch_size=size, **options))
            return self._background.run(
                lambda: np.asarray(self.embedder.embed(texts, batch_size=size, **options))
            )


def _takes_threads(embedder: Any) -> bool:
    """Whether ``embedder.embed`` takes a ``threads`` count (the built-in MiniLM does)."""
    try:
        return "threads" in inspect.signature(embedder.embed).parameters
    except (TypeError, ValueError):  # a builtin or C method without a signature
        return False
