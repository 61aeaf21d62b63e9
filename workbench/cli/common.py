"""What every command shares: the --json flag, the Workbench of this invocation, the UI launch.

Command modules import this (and ``output``), never ``app``: app.py imports the commands and
nothing imports it back, so the package has no import circle.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.workbench import Workbench

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

PLUGIN_MANAGER = "workbench.plugin_manager"  # ctx.meta key: the manager build_cli was given
OFFLINE = "workbench.offline"  # ctx.meta key: `workbench --offline ...`
TELEMETRY = "workbench.telemetry"  # ctx.meta key: telemetry was started for this invocation


def get_workbench(
    ctx: typer.Context, *, metrics_port: int | None = None, long_running: bool = False
) -> Workbench:
    """The Workbench for this invocation (tests inject one through ``ctx.obj``).

    It shares the plugin manager that added the plugins' commands, so plugins load (and loose
    plugin files run) once per process. Telemetry starts with it: OTLP export when the
    OTEL_EXPORTER_OTLP_* variables say so, and Prometheus /metrics for a ``long_running``
    command (the ``metrics_port`` setting, or ``metrics_port`` given).
    """
    if ctx.obj is None:
        from workbench.workbench import Workbench

        ctx.obj = Workbench(plugin_manager=ctx.meta.get(PLUGIN_MANAGER))
    workbench: Workbench = ctx.obj
    if ctx.meta.get(OFFLINE):
        workbench.settings.offline = True
    if not ctx.meta.get(TELEMETRY):
        ctx.meta[TELEMETRY] = True
        exporting = workbench.start_telemetry(metrics_port, long_running=long_running)
        if exporting.refused:
            from workbench.cli.output import err_console

            err_console.print(f"[yellow]{exporting.refused}[/]")
    return workbench


def launch_ui(workbench: Workbench) -> None:
    """Run the terminal UI over ``workbench`` (needs a terminal)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise WorkbenchError(
            "The terminal UI needs an interactive terminal. Run a command instead, e.g. "
            "`workbench search QUERY` (see `workbench --help`).",
            title="No terminal",
        )
    from workbench.tui.app import make_app

    make_app(workbench).run()
