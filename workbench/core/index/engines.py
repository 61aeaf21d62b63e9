"""Where a sync reads, extracts and embeds the files that changed.

The scan, the diff against the index and every decision stay in the syncing process, and
every result is committed by its ``BatchWriter``, so crash safety and incrementality are the
same whatever the engine. An engine only does the expensive middle: reading and extracting
changed files (``extracted``) and embedding new chunk texts (``embed``).

- ``LocalEngine`` (the default): in this process, file by file, as a desktop sync does.
- ``RayEngine`` (``workbench ingest --engine ray [--address ADDR]``, the ``workbench[scale]``
  extra): Ray tasks across the cores of this machine or a cluster's. Each worker builds the
  same extractors and embedder from the same settings (with the ``build`` function the
  facade hands over); the files must be readable at the same paths on every node (a shared
  drive), like the library itself (object storage).
"""

from __future__ import annotations

import math
import os
import socket
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.core.extraction.registry import ExtractorRegistry
    from workbench.core.index.preparing import Extracted
    from workbench.core.index.scanning import ScanEntry
    from workbench.paths import Paths

ENGINES = ("local", "ray")
# Builds a worker's extractors and embedder from the paths and settings (picklable: a
# module-level function, sent to the workers by reference).
Build = Callable[["Paths", "Settings"], tuple["ExtractorRegistry", Any]]
FILES_PER_TASK = 8  # files one extraction task reads: few enough to spread, enough to amortise
EMBED_TASK_MIN = 32  # texts one embedding task gets at least


class LocalEngine:
    """Everything in this process: ``prepare`` reads and extracts, the writer embeds."""

    name = "local"
    embed: Callable[[list[str]], np.ndarray] | None = None

    def extracted(
        self, todo: Sequence[ScanEntry], wanted: Callable[[ScanEntry], bool]
    ) -> Iterator[tuple[ScanEntry, Extracted | None]]:
        for entry in todo:
            yield entry, None

    def close(self) -> None:
        pass


class RayEngine:
    """Extraction and embedding as Ray tasks; results come back in the order of ``todo``."""

    name = "ray"

    def __init__(
        self, build: Build, paths: Paths, settings: Settings, embedder_id: str, address: str = ""
    ) -> None:
        # Workers run the installed environment as it is: under `uv run`, Ray's hook would
        # have each worker re-create the project's environment (rebuilding llama.cpp). Read
        # when Ray is imported.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
        except ImportError:
            raise WorkbenchError(
                "The Ray engine needs Ray, which is not installed. Install the extra with "
                "`pip install 'workbench[scale]'` (or `uv sync --extra scale`), or ingest "
                "without --engine ray.",
                "Ray not installed",
            ) from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            _check_reachable(address)  # ray.init would wait for an absent cluster for ever
            try:
                with warnings.catch_warnings():
                    # Ray starts its processes with fork+exec: nothing of LanceDB's runtime
                    # runs in the child, so LanceDB's warning about fork does not apply.
                    warnings.filterwarnings("ignore", "lance.* fork", RuntimeWarning)
                    warnings.filterwarnings("ignore", "lance is not fork-safe", UserWarning)
                    ray.init(address=address or None, include_dashboard=False,
                             log_to_driver=False, configure_logging=False)  # fmt: skip
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise WorkbenchError(
                    f"Cannot join the Ray cluster at {address or 'this machine'}: "
                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}. Start "
                    "one with `ray start --head` and pass its address (e.g. --address "
                    "127.0.0.1:6379), or leave --address out to run Ray on this machine.",
                    "Ray unavailable",
                ) from None
        self.embedder_id = embedder_id
        self.context = ray.put((build, paths, settings))
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self.slots = max(1, int(resources.get("CPU", 1)))
        self._extract = ray.remote(num_cpus=1)(_extract_files)
        self._embed = ray.remote(num_cpus=1)(_embed_texts)

    def extracted(
        self, todo: Sequence[ScanEntry], wanted: Callable[[ScanEntry], bool]
    ) -> Iterator[tuple[ScanEntry, Extracted | None]]:
        """Each entry with what a worker read and extracted (None for those ``wanted`` says
        need no reading: skipped by rule); at most two tasks per core in flight."""
        groups = [todo[i : i + FILES_PER_TASK] for i in range(0, len(todo), FILES_PER_TASK)]
        pending: deque[tuple[Sequence[ScanEntry], Any]] = deque()
        upcoming = iter(groups)

        def submit() -> None:
            group = next(upcoming, None)
            if group is not None:
                paths = [entry.path for entry in group if wanted(entry)]
                pending.append(
                    (group, self._extract.remote(self.context, paths) if paths else None)
                )

        for _ in range(2 * self.slots):
            submit()
        while pending:
            group, task = pending.popleft()
            embedder_id, results = self._get(task) if task is not None else ("", {})
            self._check_embedder(embedder_id)
            submit()
            for entry in group:
                yield entry, results.get(entry.path)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors for ``texts``, split over the cluster's cores."""
        size = max(EMBED_TASK_MIN, math.ceil(len(texts) / self.slots))
        tasks = [
            self._embed.remote(self.context, texts[i : i + size])
            for i in range(0, len(texts), size)
        ]
        parts = []
        for embedder_id, vectors in self._get(tasks):
            self._check_embedder(embedder_id)
            parts.append(vectors)
        return np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def _get(self, tasks: Any) -> Any:
        """The results of ``tasks``; a task that failed (a worker died, a node left) is a
        WorkbenchError: what was committed stays, and the next sync redoes the rest."""
        try:
            return self.ray.get(tasks)
        except self.ray.exceptions.RayError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkbenchError(
                f"A Ray task failed ({type(exc).__name__}: {detail[:300]}). Files committed "
                "before it are kept; run `workbench ingest --engine ray` again to go on, or "
                "without --engine ray to sync here. `ray status` shows the cluster.",
                "Ray task failed",
            ) from exc

    def _check_embedder(self, embedder_id: str) -> None:
        if embedder_id and embedder_id != self.embedder_id:
            raise WorkbenchError(
                f"The Ray workers embed with {embedder_id}, this machine with "
                f"{self.embedder_id}. Install the same Workbench version and plugins on every "
                "node, with the same embedder setting.",
                "Ray workers differ",
            )

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _check_reachable(address: str) -> None:
    """Refuse at once a cluster address (host:port, or ray://host:port) nothing answers at."""
    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    problem = ""
    if not host or not port.isdigit():
        problem = "write it as HOST:PORT (the head node's GCS port, 6379 by default)"
    else:
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as exc:
            problem = f"nothing answers there ({exc.strerror or exc})"
    if problem:
        raise WorkbenchError(
            f"Cannot join the Ray cluster at {address}: {problem}. Start one with `ray start "
            "--head` and pass its address, or leave --address out to run Ray on this machine.",
            "Ray unavailable",
        )


# -- on the workers --------------------------------------------------------------------------
Context = tuple[Build, "Paths", "Settings"]
_worker: tuple[Context, tuple[ExtractorRegistry, Any]] | None = None  # built once per worker


def _parts(context: Context) -> tuple[ExtractorRegistry, Any, Settings]:
    """This worker's extractors, embedder and settings for ``context`` (built once)."""
    global _worker
    build, paths, settings = context
    if _worker is None or _worker[0] != context:
        _worker = (context, build(paths, settings))
    registry, embedder = _worker[1]
    return registry, embedder, settings


def _extract_files(context: Context, paths: list[str]) -> tuple[str, dict[str, Extracted]]:
    from workbench.core.index.preparing import read_and_extract

    registry, embedder, settings = _parts(context)
    results = {}
    for path in paths:
        extractor, _reason = registry.for_path(path)
        if extractor is not None:
            results[path] = read_and_extract(path, extractor, embedder, settings.chunk_tokens)
    return embedder.id, results


def _embed_texts(context: Context, texts: list[str]) -> tuple[str, np.ndarray]:
    import inspect

    _registry, embedder, settings = _parts(context)
    # One thread per task: Ray runs one task per core, so threads would only fight.
    options = {"threads": 1} if "threads" in inspect.signature(embedder.embed).parameters else {}
    size = settings.embed_batch_size
    vectors = np.asarray(embedder.embed(texts, batch_size=size, **options), dtype=np.float32)
    return embedder.id, vectors


def create_engine(
    name: str, build: Build, paths: Paths, settings: Settings, embedder_id: str, address: str = ""
) -> LocalEngine | RayEngine:
    if name == "local":
        if address:
            raise WorkbenchError(
                "--address names a Ray cluster; add --engine ray to use it.", "Bad option"
            )
        return LocalEngine()
    if name == "ray":
        return RayEngine(build, paths, settings, embedder_id, address)
    raise WorkbenchError(
        f"There is no sync engine {name!r}. Engines: {', '.join(ENGINES)}.", "Unknown engine"
    )
