"""Typed evaluation records: what `workbench eval answers` returns; ``as_json()`` at the edge."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class QuestionResult:
    """One asked question: the answer, the gold answers, its scores and its timings."""

    id: str
    question: str
    article: str
    gold: list[str]  # empty: the question is unanswerable
    answer: str  # as the answerer wrote it (the decline message when declined)
    declined: bool
    em: float
    f1: float
    contains: bool
    groundedness: float
    ran_model: bool  # false when it was declined before the model was asked
    first_token_ms: float
    total_ms: float
    best_relevance: float
    answer_id: str  # in the evaluation index's own answer log
    answerability: float | None = None  # the model's P(yes) that the sources answer it
    declined_because: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.gold)

    def as_json(self) -> dict[str, Any]:
        return {"answerable": self.answerable, **asdict(self)}


@dataclass(frozen=True)
class AnswersProgress:
    """Reported while an answer evaluation runs.

    ``phase`` is "prepare" (a step, which ``message`` names), "index" (``done`` of ``total``
    files of the articles synced) or "ask" (``done`` of ``total`` questions answered; ``last``
    is the latest result).
    """

    phase: str
    message: str = ""
    done: int = 0
    total: int = 0
    last: QuestionResult | None = None


@dataclass
class AnswerEval:
    """Answer quality on a SQuAD 2.0 sample: `workbench eval answers --json`.

    Rates are shares (0-1) and None where nothing was there to measure (no unanswerable
    question in the sample, no answer that ran the model).
    """

    questions: int
    model: str
    em: float | None
    f1: float | None
    contains: float | None  # answerable questions whose answer holds a gold answer
    answerable_declined: float | None
    unanswerable_declined: float | None
    groundedness_answerable: float | None  # mean, over answers that were not declined
    groundedness_unanswerable: float | None
    first_token_ms_p50: float | None  # medians over the questions that ran the model
    total_ms_p50: float | None
    answerable: int = 0
    unanswerable: int = 0
    answerable_em: float | None = None
    answerable_f1: float | None = None
    ran_model: int = 0
    seed: int = 0
    dataset: str = ""
    index: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: bool = False  # stopped early (Ctrl-C): the figures cover the questions asked
    results: list[QuestionResult] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The contract: the eleven headline keys first, in this order, then the context."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "results"}
