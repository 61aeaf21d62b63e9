"""The evaluation service: retrieval and answer quality on public benchmarks.

Each evaluation builds a ``Library`` of its own under ``eval_dir`` (the cache), so nothing it
indexes or asks touches the person's library or answer log, and a second run reuses the index.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.core.answering.catalog import ModelCatalog
from workbench.core.evaluation.answers import DEFAULT_LIMIT, DEFAULT_SEED, run_answer_eval
from workbench.core.evaluation.records import AnswerEval, AnswersProgress
from workbench.core.evaluation.retrieval import run_retrieval_eval
from workbench.core.extraction.registry import ExtractorRegistry


class Evaluator:
    """Runs `workbench eval` benchmarks with the workbench's extractors, embedder and models."""

    def __init__(
        self,
        eval_dir: Path,
        registry: ExtractorRegistry,
        embedder: Any,
        settings: Settings,
        catalog: ModelCatalog,
    ) -> None:
        self.eval_dir = eval_dir
        self.registry = registry
        self.embedder = embedder
        self.settings = settings
        self.catalog = catalog

    def retrieval(
        self,
        dataset_dir: str | Path,
        *,
        split: str = "test",
        mode: str = "hybrid",
        limit: int | None = None,
        on_progress: Callable[[str], None] = lambda message: None,
    ) -> dict[str, Any]:
        """Index a BEIR dataset into an index of its own and score every search mode;
        returns the `workbench eval retrieval --json` contract."""
        return run_retrieval_eval(
            self.eval_dir, self.registry, self.embedder, self.settings, dataset_dir,
            split=split, mode=mode, limit=limit, on_progress=on_progress,
        )  # fmt: skip

    def answers(
        self,
        dataset: str | Path,
        *,
        limit: int | None = DEFAULT_LIMIT,
        seed: int = DEFAULT_SEED,
        model: str | None = None,
        on_progress: Callable[[AnswersProgress], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> AnswerEval:
        """Ask a seeded sample of a SQuAD 2.0 dataset's questions from a library of its
        articles and score the answers (EM, F1, declining, groundedness, timings)."""
        return run_answer_eval(
            self.eval_dir, self.registry, self.embedder, self.settings, self.catalog, dataset,
            limit=limit, seed=seed, model=model, on_progress=on_progress,
            should_stop=should_stop,
        )  # fmt: skip
