"""One error family whose messages a person can act on."""

from __future__ import annotations


class WorkbenchError(Exception):
    """An expected failure: says what failed, why, and what to do next.

    Front ends print ``message`` under ``title`` and never show a traceback for it.
    """

    def __init__(self, message: str, title: str = "Workbench error") -> None:
        super().__init__(message)
        self.message = message
        self.title = title

    def __str__(self) -> str:
        return self.message


class StoreLockedError(WorkbenchError):
    """Another process is writing to the same library."""


class StoreDamagedError(WorkbenchError):
    """The library index on disk cannot be read back (a truncated or missing data file)."""

    def __init__(self, db_dir: object, detail: str) -> None:
        super().__init__(
            f"The library index is damaged: run `workbench repair` to rebuild it from the files "
            f"in your folders (they are the source of truth; cached vectors that are intact are "
            f"reused). Index: {db_dir}. What failed: {detail}",
            title="Library index damaged",
        )
        self.detail = detail


class DiskFullError(WorkbenchError):
    """A write failed because the disk is full."""

    def __init__(self, where: object, detail: str) -> None:
        super().__init__(
            f"The disk is full: Workbench could not write to {where} ({detail}). Nothing indexed "
            "before is lost: each file is committed whole, and the index stays consistent. Free "
            "some space on that disk (`df -h` shows how much is left), then run `workbench "
            "ingest` again to carry on where it stopped.",
            title="Disk full",
        )
