"""Activity: sync and watch events, errors, and recent answer timings, newest last."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog

from workbench.tui.widgets.status import SyncStatus


class ActivityScreen(Screen[None]):
    """A live log of what the workbench did."""

    def __init__(self) -> None:
        super().__init__()
        self.shown = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield RichLog(id="activity-log", wrap=True, markup=True)
        yield SyncStatus(id="sync-status")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "activity_count", self._append, init=True)

    def _append(self, count: int) -> None:
        log = self.query_one("#activity-log", RichLog)
        lines = self.app.activity  # type: ignore[attr-defined]
        for line in lines[self.shown : count]:
            log.write(line)
        self.shown = count
