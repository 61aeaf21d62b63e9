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
    from workbench.crash import unexpected_message

    print_error("Unexpected error", unexpected_message(exc))
