"""Answer quality on SQuAD 2.0: ask a seeded sample of questions from a library of the articles.

The articles are written as markdown files (``squad.py``) into a folder of their own and
indexed by the same incremental sync as any library, into the evaluation's own index; a
second run reuses it. Questions go through the same ``Answerer`` as `workbench ask`, so its
answers are logged in that index, never in the person's answer log.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.core.answering.catalog import ModelCatalog
from workbench.core.answering.grounding import strip_citations
from workbench.core.answering.records import AnswerRecord
from workbench.core.answering.service import Answerer
from workbench.core.evaluation.records import AnswerEval, AnswersProgress, QuestionResult
from workbench.core.evaluation.squad import (
    SquadDataset,
    SquadQuestion,
    load_squad,
    sample_questions,
    score,
    write_articles,
)
from workbench.core.extraction.registry import ExtractorRegistry
from workbench.core.index.library import Library
from workbench.core.index.sync import SyncProgress, SyncReport

DEFAULT_LIMIT = 400
DEFAULT_SEED = 2018  # the year SQuAD 2.0 was published; any fixed number would do


def run_answer_eval(
    eval_dir: Path,
    registry: ExtractorRegistry,
    embedder: Any,
    settings: Settings,
    catalog: ModelCatalog,
    dataset: str | Path,
    *,
    limit: int | None = DEFAULT_LIMIT,
    seed: int = DEFAULT_SEED,
    model: str | None = None,
    on_progress: Callable[[AnswersProgress], None] = lambda progress: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> AnswerEval:
    """Index the dataset's articles (incrementally, into a Library of its own under
    ``eval_dir``), ask a seeded sample of its questions and score the answers.

    When ``should_stop`` turns true the question being answered is dropped and the result
    covers the questions answered before it (``stopped`` is set).
    """
    started = time.perf_counter()
    squad = load_squad(dataset)
    chosen = catalog.model(model)  # an unknown model fails here, before any indexing
    home = eval_dir / "answers" / f"{squad.path.stem}-{_digest(squad.path)}"
    library = Library(home / "index.lancedb", home / "write.lock", registry, embedder, settings)
    report = index_articles(library, squad, home / "docs", on_progress, should_stop)
    sample = sample_questions(squad.questions, limit, seed) if not report.interrupted else []
    results = ask_all(Answerer(library, catalog), sample, model, on_progress, should_stop)
    return summarize(
        results,
        model=chosen.name,
        seed=seed,
        dataset=squad.path.name,
        index={"path": str(home), **report.as_json()},
        seconds=round(time.perf_counter() - started, 2),
        stopped=report.interrupted or len(results) < len(sample),
    )


def index_articles(
    library: Library,
    squad: SquadDataset,
    docs: Path,
    on_progress: Callable[[AnswersProgress], None],
    should_stop: Callable[[], bool],
) -> SyncReport:
    """Write the articles into ``docs`` and sync them into ``library`` (incrementally)."""
    on_progress(AnswersProgress("prepare", f"Writing {len(squad.articles)} articles to {docs}"))
    write_articles(squad.articles, docs)
    on_progress(AnswersProgress("prepare", "Indexing (incremental: a second run reuses it)"))

    def on_sync(progress: SyncProgress) -> None:
        on_progress(AnswersProgress("index", "", progress.done, progress.total))

    return library.syncer.sync([str(docs)], on_progress=on_sync, should_stop=should_stop)


def ask_all(
    answerer: Answerer,
    questions: Sequence[SquadQuestion],
    model: str | None,
    on_progress: Callable[[AnswersProgress], None],
    should_stop: Callable[[], bool],
) -> list[QuestionResult]:
    """Ask each question in turn until all are answered or ``should_stop`` turns true."""
    results: list[QuestionResult] = []
    on_progress(AnswersProgress("ask", done=0, total=len(questions)))
    for question in questions:
        if should_stop():
            break
        record = answerer.ask(question.question, model=model, should_stop=should_stop)
        if record.finish_reason == "cancelled":  # stopped halfway: not a fair answer to score
            break
        results.append(question_result(question, record))
        on_progress(AnswersProgress("ask", done=len(results), total=len(questions),
                                    last=results[-1]))  # fmt: skip
    return results


def question_result(question: SquadQuestion, record: AnswerRecord) -> QuestionResult:
    """One answer scored against the question's gold answers (citation markers removed)."""
    scores = score(strip_citations(record.answer), record.declined, question.answers)
    return QuestionResult(
        id=question.id,
        question=question.question,
        article=question.article,
        gold=list(question.answers),
        answer=record.answer,
        declined=record.declined,
        em=scores.em,
        f1=round(scores.f1, 4),
        contains=scores.contains,
        groundedness=record.groundedness,
        ran_model=record.usage.prompt_tokens > 0,  # the model read a prompt
        first_token_ms=record.timings.first_token_ms,
        total_ms=record.timings.total_ms,
        best_relevance=record.best_relevance,
        answer_id=record.id,
        answerability=record.answerability,
        declined_because=record.declined_because,
    )


def summarize(results: list[QuestionResult], *, model: str, **context: Any) -> AnswerEval:
    """The headline figures of ``results``; ``context`` fills the remaining fields."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    ran = [r for r in results if r.ran_model]
    return AnswerEval(
        questions=len(results),
        model=model,
        em=_mean([r.em for r in results]),
        f1=_mean([r.f1 for r in results]),
        contains=_mean([float(r.contains) for r in answerable]),
        answerable_declined=_mean([float(r.declined) for r in answerable]),
        unanswerable_declined=_mean([float(r.declined) for r in unanswerable]),
        groundedness_answerable=_mean([r.groundedness for r in answerable if not r.declined]),
        groundedness_unanswerable=_mean([r.groundedness for r in unanswerable if not r.declined]),
        first_token_ms_p50=_median([r.first_token_ms for r in ran]),
        total_ms_p50=_median([r.total_ms for r in ran]),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        answerable_em=_mean([r.em for r in answerable]),
        answerable_f1=_mean([r.f1 for r in answerable]),
        ran_model=len(ran),
        results=results,
        **context,
    )


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _digest(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()[:10]
