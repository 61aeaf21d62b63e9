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
