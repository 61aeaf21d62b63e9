"""Printing helpers shared by the commands: JSON for scripts, Rich for people."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(title: str, message: str) -> None:
    from rich.panel import Panel

    err_console.print(Panel(message, title=title, title_align="left", border_style="red"))
