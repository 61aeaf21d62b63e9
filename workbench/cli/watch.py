"""`workbench watch`: keep the index in step with the disk until Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, err_console
from workbench.presentation import change_lines, sync_line

if TYPE_CHECKING:
    from workbench.core.index.watcher import WatchEvent

CHANGES_LISTED = 50


def register(app: typer.Typer) -> None:
    app.command()(watch)


def watch(
    ctx: typer.Context,
    json_: JsonFlag = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", min=0, max=65535,
            help="Serve Prometheus metrics on http://127.0.0.1:PORT/metrics (e.g. 9464) while "
            "watching; 0 serves none. Default: the metrics_port setting.",
        ),
    ] = None,
) -> None:  # fmt: skip
    """Watch every library folder and keep the index current (Ctrl-C stops).

    Changes made while nothing was watching are found first. With --json, prints one JSON
    line per event (each processed batch: paths, what happened to them, seconds; warnings,
    such as folders polled because the inotify watch limit is reached).
    """
    workbench = get_workbench(ctx, metrics_port=metrics_port, long_running=True)
    served = workbench.start_telemetry().prometheus  # what get_workbench started
    if served:
        if json_:
            _json_line_of({"event": "metrics", "at": round(time.time(), 3), "url": served})
        else:
            console.print(f"[dim]Metrics at {served}[/]")
    watcher = workbench.watcher(on_event=_json_line if json_ else _human_line)
    stops = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stops
        stops += 1
        if stops > 1:  # a second Ctrl-C: stop now; the index stays consistent (crash-safe)
            raise KeyboardInterrupt
        if not json_:
            err_console.print("Stopping after the batch in flight… (Ctrl-C again to quit now)")
        watcher.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _json_line(event: WatchEvent) -> None:
    _json_line_of(event.as_json())


def _json_line_of(data: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _human_line(event: WatchEvent) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
    data = event.data
    if event.event == "started":
        folders = ", ".join(data["folders"]) or "no folders yet (add one with `workbench add`)"
        console.print(f"[dim]{stamp}[/] Watching {folders}. Ctrl-C stops.")
    elif event.event == "batch":
        if not data["changes"] and data["trigger"] != "startup":
            return
        label = "Caught up" if data["trigger"] == "startup" else "Synced"
        console.print(f"[dim]{stamp}[/] {sync_line(label, data['files'], data['seconds'])}")
        for line in change_lines(data["changes"], CHANGES_LISTED):
            console.print(f"  {line}", markup=False)
    elif event.event in ("folder_missing", "folder_back", "folder_added", "folder_removed"):
        words = {
            "folder_missing": "[red]Folder missing[/] (index kept; watching the rest):",
            "folder_back": "Folder back, catching up:",
            "folder_added": "Now watching",
            "folder_removed": "Stopped watching",
        }
        console.print(f"[dim]{stamp}[/] {words[event.event]} {data['path']}")
    elif event.event == "busy":
        err_console.print(f"[dim]{stamp}[/] [yellow]Library busy[/], will retry: {data['message']}")
    elif event.event == "warning":
        # soft_wrap: the fix is a command to copy, so it must stay on one line
        message = escape(data["message"])
        err_console.print(f"[dim]{stamp}[/] [yellow]Warning[/]: {message}", soft_wrap=True)
    elif event.event == "stopped":
        console.print(f"[dim]{stamp}[/] Stopped.")
