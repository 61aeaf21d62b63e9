"""Library: folders and their files, with per-file status; add, remove, sync."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.tui.messages import LibraryChanged
from workbench.tui.screens.dialogs import ConfirmScreen
from workbench.tui.widgets.status import SyncStatus

if TYPE_CHECKING:
    from workbench.core.index.records import FileState, FolderSummary

STATUS_STYLE = {"indexed": "green", "pending": "yellow", "failed": "red", "skipped": "magenta"}


class FoldersLoaded(Message, bubble=False):
    """The load worker read the folders and the selected folder's files."""

    def __init__(
        self, folders: list[FolderSummary], files: list[FileState], selected: str | None
    ) -> None:
        super().__init__()
        self.folders = folders
        self.files = files
        self.selected = selected


class LibraryScreen(Screen[None]):
    """Registered folders on top, the selected folder's files below."""

    BINDINGS = [
        Binding("a", "app.add_folder", "Add folder"),
        Binding("d", "remove_folder", "Remove folder"),
        Binding("s", "app.sync_now", "Sync now"),
        Binding("f", "forget_file", "Forget file"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: str | None = None
        self.folder_rows: list[FolderSummary] = []
        self.shown: FoldersLoaded | None = None  # what the tables hold now

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Folders", classes="pane-title")
        yield DataTable(id="folders", cursor_type="row", zebra_stripes=True)
        yield Static("Files", classes="pane-title", id="files-title")
        yield DataTable(id="files", cursor_type="row", zebra_stripes=True)
        yield SyncStatus(id="sync-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#folders", DataTable).add_columns(
            "folder", "indexed", "not indexed", "chunks", "state"
        )
        self.query_one("#files", DataTable).add_columns(
            "status", "kind", "file", "chunks", "reason"
        )

    def on_screen_resume(self) -> None:
        """Load on first showing and on coming back (changes made meanwhile were not shown)."""
        self.load()

    @on(LibraryChanged)
    def library_changed(self) -> None:
        self.load()

    @work(exit_on_error=False, thread=True, exclusive=True, group="library-load")
    def load(self) -> None:
        workbench = self.app.workbench  # type: ignore[attr-defined]
        folders = workbench.folder_summaries()
        paths = [row.path for row in folders]
        selected = self.selected if self.selected in paths else (paths[0] if paths else None)
        files = workbench.file_states(selected) if selected else []
        self.post_message(FoldersLoaded(folders, files, selected))

    @on(FoldersLoaded)
    def show(self, message: FoldersLoaded) -> None:
        """Fill the tables, unless they already show exactly this."""
        if self.shown is not None and _same(self.shown, message):
            return
        self.shown = message
        self.folder_rows = message.folders
        self.selected = message.selected
        # Refilling moves the folders' cursor; those highlights are not the person picking
        # a folder, and reacting to them would load again, refill again, and so on forever.
        with self.prevent(DataTable.RowHighlighted):
            self._fill_folders(message.folders)
            self._fill_files(message.files)
        title = (
            f"Files in {self.selected}" if self.selected else "No folders yet: press a to add one"
        )
        self.query_one("#files-title", Static).update(f"{title} ({len(message.files)})")

    def _fill_folders(self, rows: list[FolderSummary]) -> None:
        folders = self.query_one("#folders", DataTable)
        folders.clear()
        for folder in rows:
            state = "[green]watching[/]" if folder.exists else "[red]missing[/]"
            folders.add_row(
                folder.path,
                str(folder.files),
                str(folder.not_indexed),
                str(folder.chunks),
                state,
                key=folder.path,
            )
        if self.selected:
            folders.move_cursor(row=[r.path for r in rows].index(self.selected), animate=False)

    def _fill_files(self, rows: list[FileState]) -> None:
        files = self.query_one("#files", DataTable)
        files.clear()
        for file in rows:
            style = STATUS_STYLE.get(file.status, "")
            relative = os.path.relpath(file.path, self.selected) if self.selected else file.path
            files.add_row(
                f"[{style}]{file.status}[/]",
                file.kind,
                relative,
                str(file.chunks or ""),
                file.reason,
                key=file.path,
            )

    @on(DataTable.RowSelected, "#folders")
    @on(DataTable.RowHighlighted, "#folders")
    def pick_folder(self, event: DataTable.RowSelected | DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key and key != self.selected:
            self.selected = key
            self.load()

    def action_remove_folder(self) -> None:
        if self.selected:
            self.app.remove_folder(self.selected)  # type: ignore[attr-defined]

    def action_forget_file(self) -> None:
        """Forget the highlighted file everywhere (index, versions, caches, logs), once the
        person confirms."""
        files = self.query_one("#files", DataTable)
        if not files.row_count:
            return
        path = files.coordinate_to_cell_key(files.cursor_coordinate).row_key.value
        if not path:
            return
        question = (
            f"Forget {path}?\n\nIts text goes from the index, every kept version and tag, "
            "the caches and the answer log (answers that used it are redacted), and a scan "
            "checks that none is left. Versions between tags are dropped. This cannot be undone."
        )

        def chosen(confirmed: bool | None) -> None:
            if confirmed:
                self.app.forget_path(path)  # type: ignore[attr-defined]

        self.app.push_screen(ConfirmScreen(question, "Forget"), chosen)


def _same(shown: FoldersLoaded, loaded: FoldersLoaded) -> bool:
    """Whether ``loaded`` holds what ``shown`` put in the tables (records compare by value)."""
    return (shown.folders, shown.files, shown.selected) == (
        loaded.folders,
        loaded.files,
        loaded.selected,
    )
