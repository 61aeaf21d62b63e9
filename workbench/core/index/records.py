"""Typed records the library service returns; ``as_json()`` is each command's JSON contract."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.core.index.sync import SyncReport

# Worst first: what needs a person's attention leads every listing.
STATUS_ORDER = ("failed", "pending", "skipped", "indexed")


@dataclass(frozen=True)
class FileProblem:
    """A file that is not (fully) indexed, and why."""

    path: str
    status: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class FileState:
    """One file of a library folder: indexed, failed, skipped, or pending (not yet synced,
    or changed or deleted since the last sync)."""

    path: str
    kind: str
    status: str
    chunks: int
    reason: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def order(self) -> tuple[int, str]:
        rank = STATUS_ORDER.index(self.status) if self.status in STATUS_ORDER else 9
        return rank, self.path


@dataclass(frozen=True)
class FolderSummary:
    """A library folder and what its files came to."""

    path: str
    exists: bool
    files: int
    not_indexed: int
    chunks: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LibraryStatus:
    """`workbench status`: what the index holds."""

    files: int
    chunks: int
    failed: list[FileProblem]
    version: int
    folders: list[str]
    by_status: dict[str, int]
    by_kind: dict[str, int]
    embedder: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"failed": [problem.as_json() for problem in self.failed]}


@dataclass
class DoctorReport:
    """`workbench doctor`: coverage by kind, OCR, engines; or only what is damaged."""

    damaged: bool
    problems: list[str]
    coverage: dict[str, Any] = field(default_factory=dict)  # coverage.coverage_report
    settings: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        library = {"library": {"damaged": self.damaged, "problems": self.problems}}
        if self.damaged:  # the coverage cannot be trusted: say only what is wrong
            return library
        return self.coverage | library | {"settings": self.settings}


@dataclass
class RepairResult:
    """`workbench repair`: what was wrong, where the damaged copy went, what was kept."""

    problems: list[str]
    damaged_copy: str
    salvaged: dict[str, dict[str, int]]
    folders: list[str]
    sync: SyncReport | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "problems": self.problems,
            "damaged_copy": self.damaged_copy,
            "salvaged": self.salvaged,
            "folders": self.folders,
            "sync": self.sync.as_json() if self.sync else None,
        }
