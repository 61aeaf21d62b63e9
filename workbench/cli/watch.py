"""`workbench watch`: keep the index in step with the disk until Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any

import typer
from rich.markup import escape

from workbench.cli.app import JsonFlag, get_workbench
from workbench.cli.output import console, err_console

_MARKS = {"new": "+", "changed": "~", "deleted": "-", "renamed": ">", "failed": "!", "skipped": "!"}


def register(app: typer.Typer) -> None:
    app.command()(watch)


def watch(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Watch every library folder and keep the index current (Ctrl-C stops).

    Changes made while nothing was watching are found first. With --json, prints one JSON
    line per event (each processed batch: paths, what happened to them, seconds; warnings,
    such as folders polled because the inotify watch limit is reached).
    """
    workbench = get_workbench(ctx)
    watcher = workbench.watcher(on_event=_json_line if json_ else _human_line)
    stops = 0

    def on_signal(signum: int, frame: Any) -> None:
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


def _json_line(event: Any) -> None:
    sys.stdout.write(json.dumps(event.as_json(), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _human_line(event: Any) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
    data = event.data
    if event.event == "started":
        folders = ", ".join(data["folders"]) or "no folders yet (add one with `workbench add`)"
        console.print(f"[dim]{stamp}[/] Watching {folders}. Ctrl-C stops.")
    elif event.event == "batch":
        if not data["changes"] and data["trigger"] != "startup":
            return
        files = {k: v for k, v in data["files"].items() if v and k != "unchanged"}
        summary = ", ".join(f"{v} {k}" for k, v in files.items()) or "up to date"
        label = "Caught up" if data["trigger"] == "startup" else "Synced"
        console.print(f"[dim]{stamp}[/] {label} in {data['seconds']:.2f}s: {summary}")
        for change in data["changes"][:50]:
            mark = _MARKS.get(change["action"], "?")
            extra = f" (from {change['from']})" if "from" in change else ""
            extra += f": {change['reason']}" if "reason" in change else ""
            console.print(f"  {mark} {change['path']}{extra}", markup=False)
        if len(data["changes"]) > 50:
            console.print(f"  … and {len(data['changes']) - 50} more")
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
