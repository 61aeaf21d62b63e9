"""The one-line sync status shown at the bottom of every screen."""

from __future__ import annotations

from textual.widgets import Static


class SyncStatus(Static):
    """Mirrors the app's ``sync_text`` (what the watcher or "Sync now" is doing)."""

    def on_mount(self) -> None:
        self.watch(self.app, "sync_text", self._show, init=True)

    def _show(self, text: str) -> None:
        self.update(text)
