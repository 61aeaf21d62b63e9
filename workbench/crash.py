"""Unexpected errors (bugs): the traceback goes to a file, the person gets a short message."""

from __future__ import annotations

import time
import traceback
from pathlib import Path


def save_crash_report(exc: BaseException) -> Path | None:
    """Write ``exc``'s traceback under the data folder's logs/; None if that fails too."""
    try:
        from workbench.paths import resolve_paths

        logs = resolve_paths().data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        report = logs / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{id(exc) % 10000:04d}.txt"
        report.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        return report
    except OSError:
        return None


def unexpected_message(exc: BaseException) -> str:
    """What a person is told about a bug, with where its details were saved."""
    report = save_crash_report(exc)
    where = (
        f"The details are in {report}: please include that file if you report it."
        if report
        else "Run it again with WORKBENCH_DEBUG=1 to see the details."
    )
    detail = f"{type(exc).__name__}: {exc}".strip()[:500]
    return f"Workbench hit an unexpected error ({detail}). Nothing already indexed is lost. {where}"
