"""Replaying a logged answer: the same question over the same index version, with the same
model file (by sha256) and parameters, compared with what was logged.

Answers decode greedily by default, so "identical" is the expected outcome; "differs" comes
with a diff of the text and the sources; "cannot replay" names the ingredient that is gone.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.core.answering.catalog import ModelCatalog
    from workbench.core.answering.models import ModelInfo
    from workbench.core.answering.records import AnswerRecord

# Settings an answer's ``params`` record, by their names there.
REPLAYED_SETTINGS = {
    "max_tokens": "max_answer_tokens",
    "temperature": "temperature",
    "seed": "seed",
    "repeat_penalty": "repeat_penalty",
    "context_size": "context_size",
    "threads": "threads",
    "gpu_layers": "gpu_layers",
    "min_relevance": "min_relevance",
    "support_threshold": "support_threshold",
    "evidence_tokens": "evidence_tokens",
    "min_answerable": "min_answerable",
}


@dataclass
class ReplayResult:
    """`workbench answers replay ID`: identical, differs or cannot_replay, and why."""

    answer_id: str
    outcome: str  # "identical", "differs" or "cannot_replay"
    index_version: int
    model: str
    model_sha256: str | None
    reason: str = ""  # for cannot_replay: which ingredient is gone
    missing: str | None = None  # "index_version", "model", "forgotten_source" or "remote_model"
    text_diff: list[str] = field(default_factory=list)
    sources_removed: list[str] = field(default_factory=list)
    sources_added: list[str] = field(default_factory=list)
    replayed: AnswerRecord | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "answer_id": self.answer_id,
            "outcome": self.outcome,
            "index_version": self.index_version,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "reason": self.reason,
            "missing": self.missing,
            "diff": {
                "text": self.text_diff,
                "sources_removed": self.sources_removed,
                "sources_added": self.sources_added,
            },
            "replayed": self.replayed.as_json() if self.replayed else None,
        }


def cannot(record: AnswerRecord, missing: str, reason: str) -> ReplayResult:
    return ReplayResult(
        record.id, "cannot_replay", record.index_version, record.model, record.model_sha256,
        reason=reason, missing=missing,
    )  # fmt: skip


def replay_model(record: AnswerRecord, catalog: ModelCatalog) -> ModelInfo | None:
    """The local model file whose sha256 the record names: the model of that name, else any
    other model file already on disk with the same hash. None when no such file is here."""
    try:
        named: list[ModelInfo] = [catalog.model(record.model)]
    except WorkbenchError:
        named = []
    others = [
        m for m in catalog.models()
        if m.source != "remote" and not m.error and m.name != record.model and m.path
        and os.path.isfile(m.path)
    ]  # fmt: skip
    for model in named + others:
        if model.source != "remote" and catalog.sha256(model) == record.model_sha256:
            return model
    return None


def replay_settings(settings: Settings, params: dict[str, Any]) -> Settings:
    """``settings`` with every recorded parameter put back as it was."""
    values = {
        name: params[key]
        for key, name in REPLAYED_SETTINGS.items()
        if key in params and params[key] is not None
    }
    return dataclasses.replace(settings, **values)


def compare(original: AnswerRecord, replayed: AnswerRecord) -> ReplayResult:
    def sources(record: AnswerRecord) -> list[str]:
        return [f"[{s.n}] {s.path} {s.locator}" for s in record.sources]

    before, after = sources(original), sources(replayed)
    text_diff = list(
        difflib.unified_diff(
            original.answer.splitlines(), replayed.answer.splitlines(),
            "logged", "replayed", lineterm="",
        )
    )  # fmt: skip
    same = not text_diff and before == after and original.declined == replayed.declined
    return ReplayResult(
        original.id, "identical" if same else "differs", original.index_version, original.model,
        original.model_sha256, text_diff=text_diff,
        sources_removed=[s for s in before if s not in after],
        sources_added=[s for s in after if s not in before], replayed=replayed,
    )  # fmt: skip
