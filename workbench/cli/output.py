"""Printing helpers shared by the commands: JSON for scripts, Rich for people."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

# soft_wrap: long paths stay on one line (copyable, greppable) instead of being broken.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(title: str, message: str) -> None:
    """Title in red, then the message unwrapped, so long paths stay whole and copyable."""
    err_console.print(f"[bold red]Error: {title}[/]")
    err_console.print(message, markup=False, soft_wrap=True)


def report_unexpected(exc: BaseException) -> None:
    """A bug reached the top: a short message on stderr, the traceback in a file."""
    import time
    import traceback

    detail = f"{type(exc).__name__}: {exc}".strip()
    try:
        from workbench.paths import resolve_paths

        logs = resolve_paths().data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        report = logs / f"error-{time.strftime('%Y%m%d-%H%M%S')}.txt"
        report.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        where = f"The details are in {report}: please include that file if you report it."
    except OSError:
        where = "Run it again with WORKBENCH_DEBUG=1 to see the details."
    print_error(
        "Unexpected error",
        f"Workbench hit an unexpected error ({detail[:500]}). Nothing already indexed is "
        f"lost. {where}",
    )
