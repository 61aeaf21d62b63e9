"""Printing helpers shared by the commands: JSON for scripts, Rich for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from workbench.presentation import unexpected_message

if TYPE_CHECKING:
    from workbench.core.index.sync import SyncProgress

# soft_wrap: long paths stay on one line (copyable, greppable) instead of being broken.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

T = TypeVar("T")
_PHASES = {"scan": "Scanning", "index": "Indexing", "finish": "Updating indexes"}


def print_json(data: dict[str, Any] | list[Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(title: str, message: str) -> None:
    """Title in red, then the message unwrapped, so long paths stay whole and copyable."""
    err_console.print(f"[bold red]Error: {title}[/]")
    err_console.print(message, markup=False, soft_wrap=True)


def report_unexpected(exc: BaseException) -> None:
    """A bug reached the top: a short message on stderr, the traceback in a file."""
    print_error("Unexpected error", unexpected_message(exc))


def run_with_progress(run: Callable[..., T], quiet: bool = False) -> T:
    """``run(on_progress=...)`` with a sync progress bar on a terminal (none when ``quiet``)."""
    if quiet or not err_console.is_terminal:
        return run()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[name]}", style="dim"),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("Scanning", total=None, name="")

        def on_progress(update: SyncProgress) -> None:
            name = update.path.rsplit("/", 1)[-1][:40]
            progress.update(
                task,
                description=_PHASES[update.phase],
                completed=update.done,
                total=update.total or None,
                name=name,
            )

        return run(on_progress=on_progress)
