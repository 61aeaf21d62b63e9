"""Search: type a query, see hybrid results, preview each hit in context."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from workbench.errors import WorkbenchError
from workbench.presentation import format_locator
from workbench.tui.widgets.preview import hit_preview, image_blocks
from workbench.tui.widgets.status import SyncStatus

if TYPE_CHECKING:
    from workbench.core.index.search import SearchResult


def short_path(path: str, folders: list[str]) -> str:
    """``path`` relative to its library folder, led by the folder's name."""
    for folder in folders:
        if path.startswith(folder.rstrip(os.sep) + os.sep):
            return os.path.join(os.path.basename(folder), os.path.relpath(path, folder))
    return path


class PreviewReady(Message):
    def __init__(self, path: str, content: Text) -> None:
        super().__init__()
        self.path = path
        self.content = content


class SearchFinished(Message):
    def __init__(self, query: str, results: list[SearchResult], folders: list[str]) -> None:
        super().__init__()
        self.query = query
        self.results = results
        self.folders = folders


class SearchScreen(Screen[None]):
    """Hybrid (or vector, or text) search over the whole library."""

    BINDINGS = [Binding("escape", "focus_query", "Edit query")]

    def __init__(self) -> None:
        super().__init__()
        self.results: list[SearchResult] = []
        self.folders: list[str] = []  # read in the search worker, not per cursor move

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="search-bar"):
            yield Input(placeholder="Search your library…", id="query")
            yield Select(
                [
                    ("hybrid", "hybrid"),
                    ("meaning (vector)", "vector"),
                    ("exact words (text)", "text"),
                ],
                value="hybrid",
                allow_blank=False,
                id="mode",
            )
        yield DataTable(id="results", cursor_type="row", zebra_stripes=True)
        yield Static(id="preview")
        yield SyncStatus(id="sync-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#results", DataTable).add_columns("#", "score", "kind", "file", "where")
        self.query_one("#preview", Static).update("Type a query and press Enter.")
        self.query_one("#query", Input).focus()

    def action_focus_query(self) -> None:
        self.query_one("#query", Input).focus()

    @on(Input.Submitted, "#query")
    @on(Select.Changed, "#mode")
    def submit(self) -> None:
        query = self.query_one("#query", Input).value.strip()
        if query:
            self.run_search(query, str(self.query_one("#mode", Select).value))

    @work(exit_on_error=False, thread=True, exclusive=True, group="search")
    def run_search(self, query: str, mode: str) -> None:
        try:
            workbench = self.app.workbench  # type: ignore[attr-defined]
            results, folders = workbench.search(query, k=20, mode=mode), workbench.folders()
        except WorkbenchError as exc:
            self.app.call_from_thread(
                self.app.notify, exc.message, title=exc.title, severity="error"
            )
            return
        self.post_message(SearchFinished(query, results, folders))

    @on(SearchFinished)
    def show(self, message: SearchFinished) -> None:
        self.results, self.folders = message.results, message.folders
        table = self.query_one("#results", DataTable)
        table.clear()
        for rank, result in enumerate(message.results, start=1):
            table.add_row(
                str(rank),
                f"{result.score:.3f}",
                result.kind,
                short_path(result.path, self.folders),
                format_locator(result.locator),
            )
        preview = self.query_one("#preview", Static)
        if not message.results:
            preview.update(
                f"No results for {message.query!r}. Try other words, or check the Library."
            )
        else:
            preview.update(self._preview(message.results[0]))
            if message.results[0].kind == "image":
                self.render_picture(message.results[0])
            table.focus()

    @on(DataTable.RowHighlighted, "#results")
    def preview(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.results):
            result = self.results[event.cursor_row]
            self.query_one("#preview", Static).update(self._preview(result))
            if result.kind == "image":
                self.render_picture(result)

    @work(exit_on_error=False, thread=True, exclusive=True, group="picture")
    def render_picture(self, result: SearchResult) -> None:
        picture = image_blocks(Path(result.path))
        if picture is not None:
            text = self._preview(result)
            self.post_message(PreviewReady(result.path, picture + Text("\n") + text))

    @on(PreviewReady)
    def show_picture(self, message: PreviewReady) -> None:
        table = self.query_one("#results", DataTable)
        current = (
            self.results[table.cursor_row] if 0 <= table.cursor_row < len(self.results) else None
        )
        if current is not None and current.path == message.path:
            self.query_one("#preview", Static).update(message.content)

    def _preview(self, result: SearchResult) -> Text:
        workbench = self.app.workbench  # type: ignore[attr-defined]
        return hit_preview(workbench, result, short_path(result.path, self.folders))
