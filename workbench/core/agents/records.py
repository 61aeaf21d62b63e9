"""Typed agent-run records: what `workbench agent` returns and the run log keeps.

``as_json()`` is the `workbench agent --json` contract; ``from_json`` reads a logged run back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from workbench.core.answering.records import Citation


@dataclass
class AgentStep:
    """One model step: the call it made (or why it could not be run) and what came back."""

    n: int
    tool: str  # the tool called, "final_answer", or "" when the step did not parse
    arguments: dict[str, Any]
    result: str  # what the model was shown (clipped), or the error it was told
    result_sha256: str  # of the full result
    result_chars: int
    valid: bool  # the step parsed and its arguments validated
    error: str = ""  # why the step failed (invalid, refused, tool error), "" when it worked
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ms: float = 0.0  # the model's step and the tool's run

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AgentRun:
    """One agent run: the task, every step, how it stopped, and the checked answer."""

    id: str
    created: datetime
    task: str
    answer: str
    stop_reason: str  # answered, step_limit, time_limit, repeated_call, cancelled, failed
    model: str
    backend: str
    index_version: int
    steps: list[AgentStep] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    groundedness: float = 0.0
    unsupported: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    total_ms: float = 0.0

    @property
    def answered(self) -> bool:
        return self.stop_reason == "answered"

    def as_json(self) -> dict[str, Any]:
        """The `workbench agent --json` record."""
        return {
            "id": self.id,
            "created": self.created.isoformat(timespec="milliseconds"),
            "task": self.task,
            "answer": self.answer,
            "stop_reason": self.stop_reason,
            "citations": [c.as_json() for c in self.citations],
            "groundedness": self.groundedness,
            "unsupported": self.unsupported,
            "steps": [s.as_json() for s in self.steps],
            "model": self.model,
            "backend": self.backend,
            "index_version": self.index_version,
            "params": self.params,
            "total_ms": round(self.total_ms, 1),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentRun:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["created"] = datetime.fromisoformat(data["created"])
        values["steps"] = [AgentStep(**s) for s in data.get("steps", [])]
        values["citations"] = [Citation(**c) for c in data.get("citations", [])]
        return cls(**values)
