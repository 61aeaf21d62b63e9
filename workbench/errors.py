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

    def __init__(self, where: object, detail: str) -> None:
        super().__init__(
            f"The library index is damaged: run `workbench repair` to rebuild it from the files "
            f"in your folders (they are the source of truth; cached vectors that are intact are "
            f"reused). Index: {where}. What failed: {detail}",
            title="Library index damaged",
        )
        self.detail = detail


class StoreUnreachableError(WorkbenchError):
    """The object store that holds the library cannot be reached, or refuses the request."""

    def __init__(self, where: object, problem: str) -> None:
        bucket = "/".join(str(where).split("/", 3)[:3])
        hint = (
            f" Create the bucket first (e.g. `aws s3 mb {bucket}` with the same endpoint)."
            if "NoSuchBucket" in problem
            else ""
        )
        super().__init__(
            f"The library at {where} cannot be reached: {problem}.{hint} Check library_uri, "
            "AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true for an http:// endpoint), AWS_REGION and "
            "the credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Nothing was changed; "
            "run the command again once the store answers.",
            title="Library unreachable",
        )
        self.problem = problem


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
