"""Typed answer records: what `workbench ask` returns and the answer log keeps.

Front ends read attributes; ``as_json()`` is the `workbench ask --json` contract, and
``from_json`` reads a logged record back, so a record makes one round trip through JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Citation:
    """A source the answer cites, with the text the citation points at."""

    n: int
    path: str
    locator: dict[str, Any]
    text: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SourceRef:
    """A retrieved chunk the model was shown, numbered as in the prompt."""

    n: int
    path: str
    locator: dict[str, Any]
    relevance: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckedSentence:
    """The grounding check's verdict on one sentence of the answer."""

    text: str
    cited: list[int]
    support: float | None
    source: int | None
    supported: bool | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Timings:
    """Where an answer's time went, in milliseconds (and its decode speed)."""

    setup_ms: float = 0.0
    retrieve_ms: float = 0.0
    load_ms: float = 0.0
    answerable_ms: float = 0.0  # the yes/no check before the answer (answerability.py)
    prompt_ms: float = 0.0
    first_token_ms: float = 0.0
    generate_ms: float = 0.0
    tokens_per_second: float = 0.0
    check_ms: float = 0.0
    total_ms: float = 0.0

    def as_json(self) -> dict[str, float]:
        return {name: round(value, 2) for name, value in asdict(self).items()}


@dataclass
class AnswerRecord:
    """One answer with everything that made it: sources, checks, model, index, timings."""

    id: str
    created: datetime
    question: str
    answer: str
    declined: bool
    model: str
    backend: str
    index_version: int
    citations: list[Citation] = field(default_factory=list)
    groundedness: float = 0.0
    unsupported: list[str] = field(default_factory=list)
    cited_by: str = "model"  # or "workbench": the model cited nothing, citations were matched
    model_sha256: str | None = None
    model_path: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    finish_reason: str = "declined"
    best_relevance: float = 0.0
    answerability: float | None = None  # the model's P(yes) that the sources state the answer
    declined_because: str | None = None  # "no_relevant_sources" or "not_stated"
    sentences: list[CheckedSentence] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    # Each remote request that carried library text (backends/remote/receipts.py).
    receipts: list[dict[str, Any]] = field(default_factory=list)
    # Made from a past index (`--as-of`, replay): history.AsOf.as_json(); None: the live one.
    as_of: dict[str, Any] | None = None
    # Set when a source of this answer was forgotten (`workbench forget`): when, which ones.
    forgotten: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The `workbench ask --json` record (the key order is part of the contract)."""
        return {
            "id": self.id,
            "created": self.created.isoformat(timespec="milliseconds"),
            "question": self.question,
            "answer": self.answer,
            "citations": [c.as_json() for c in self.citations],
            "groundedness": self.groundedness,
            "unsupported": self.unsupported,
            "declined": self.declined,
            "cited_by": self.cited_by,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "model_path": self.model_path,
            "backend": self.backend,
            "index_version": self.index_version,
            "params": self.params,
            "usage": asdict(self.usage),
            "timings": self.timings.as_json(),
            "finish_reason": self.finish_reason,
            "best_relevance": self.best_relevance,
            "answerability": self.answerability,
            "declined_because": self.declined_because,
            "sentences": [s.as_json() for s in self.sentences],
            "sources": [s.as_json() for s in self.sources],
            "messages": self.messages,
            "receipts": self.receipts,
            "as_of": self.as_of,
            "forgotten": self.forgotten,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnswerRecord:
        """Reads back what ``as_json`` wrote (keys it does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["created"] = datetime.fromisoformat(data["created"])
        values["citations"] = [Citation(**c) for c in data.get("citations", [])]
        values["sources"] = [SourceRef(**s) for s in data.get("sources", [])]
        values["sentences"] = [CheckedSentence(**s) for s in data.get("sentences", [])]
        values["usage"] = Usage(**data.get("usage", {}))
        values["timings"] = Timings(**_known(Timings, data.get("timings", {})))
        return cls(**values)

    def summary(self) -> AnswerSummary:
        return AnswerSummary(
            self.id, self.question, self.created, self.model, self.groundedness, self.declined
        )


@dataclass(frozen=True)
class AnswerSummary:
    """One line of the answer log: `workbench answers list`."""

    id: str
    question: str
    created: datetime
    model: str
    groundedness: float
    declined: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"created": self.created.isoformat(timespec="seconds")}


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    return {key: value for key, value in data.items() if key in names}
