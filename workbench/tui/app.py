"""The Workbench terminal UI: Library, Search, Ask, Models and Activity over one facade.

Long work (the watcher's syncs, "Sync now", searches, model loads, answers) runs in thread
workers that only post messages; handlers here and in the screens own the UI state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from workbench.errors import WorkbenchError
from workbench.presentation import change_lines, sync_line, unexpected_message
from workbench.tui.messages import (
    LibraryChanged,
    SyncFinished,
    SyncProgressed,
    WatchEventReceived,
    WorkFailed,
)
from workbench.tui.screens.activity import ActivityScreen
from workbench.tui.screens.agent import AgentScreen
from workbench.tui.screens.ask import AskScreen
from workbench.tui.screens.dialogs import AddFolderScreen, FirstRunScreen, HelpScreen
from workbench.tui.screens.library import LibraryScreen
from workbench.tui.screens.models import ModelsScreen
from workbench.tui.screens.search import SearchScreen

if TYPE_CHECKING:
    from workbench.core.index.sync import SyncProgress
    from workbench.core.index.watcher import LibraryWatcher, WatchEvent
    from workbench.workbench import Workbench

ACTIVITY_LIMIT = 2000
CHANGES_LOGGED = 20  # per sync; the rest are counted


class WorkbenchApp(App[None]):
    """The terminal workbench."""

    CSS_PATH = "app.tcss"
    TITLE = "Workbench"
    MODES = {
        "library": LibraryScreen,
        "search": SearchScreen,
        "ask": AskScreen,
        "models": ModelsScreen,
        "activity": ActivityScreen,
        "agent": AgentScreen,
    }
    DEFAULT_MODE = "library"
    BINDINGS = [
        Binding("f1", "switch_mode('library')", "Library"),
        Binding("f2", "switch_mode('search')", "Search"),
        Binding("f3", "switch_mode('ask')", "Ask"),
        Binding("f4", "switch_mode('models')", "Models"),
        Binding("f5", "switch_mode('activity')", "Activity"),
        Binding("f6", "switch_mode('agent')", "Agent"),
        Binding("ctrl+o", "add_folder", "Add folder", show=False),
        Binding("ctrl+s", "sync_now", "Sync now", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit"),
    ]

    sync_text: reactive[str] = reactive("")
    activity_count: reactive[int] = reactive(0)

    def __init__(self, workbench: Workbench, *, watch: bool = True, first_run: bool = True) -> None:
        super().__init__()
        self.workbench = workbench
        self.watching = watch
        self.offer_first_run = first_run
        self.activity: list[Text] = []
        self._watcher: LibraryWatcher | None = None

    # -- start and stop -------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.sub_title = str(self.workbench.paths.data_dir)
        if self.workbench.settings.offline:  # a badge on every screen's header
            self.sub_title = f"OFFLINE · nothing leaves this machine · {self.sub_title}"
        self.log_activity("Workbench started.")
        if self.watching:
            self.run_watcher()
        if self.offer_first_run and not self.workbench.folders():
            self.push_screen(FirstRunScreen(), self._first_run_choice)

    def on_unmount(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    # -- commands --------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for name, help_text in (
            ("Library", "Folders and files, with their index status"),
            ("Search", "Search the library"),
            ("Ask", "Ask a question; answered with checked citations"),
            ("Models", "Local models: pick the default"),
            ("Activity", "Sync and watch events, errors, answer timings"),
            ("Agent", "A task done step by step with tools, answered with citations"),
        ):
            if name.lower() in self.MODES:
                yield SystemCommand(name, help_text, self._switcher(name.lower()))
        yield SystemCommand("Add folder", "Add a folder to the library", self.action_add_folder)
        yield SystemCommand("Sync now", "Sync every folder with the disk", self.action_sync_now)
        yield SystemCommand("Help", "Key bindings and screens", self.action_help)
        yield from super().get_system_commands(screen)

    def _switcher(self, mode: str) -> Callable[[], object]:
        return lambda: self.switch_mode(mode)

    def action_switch_mode(self, mode: str) -> None:  # type: ignore[override]
        if mode in self.MODES:
            self.switch_mode(mode)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_add_folder(self) -> None:
        self.push_screen(AddFolderScreen(), self._add_folder_chosen)

    def action_sync_now(self) -> None:
        self.log_activity("Sync now: scanning every folder.")
        self.sync_all()

    def remove_folder(self, folder: str) -> None:
        self._remove_folder(folder)

    # -- workers ---------------------------------------------------------------------------------
    @work(exit_on_error=False, thread=True, exclusive=True, group="watch")
    def run_watcher(self) -> None:
        def on_event(event: WatchEvent) -> None:
            self.post_message(WatchEventReceived(event))

        watcher = self.workbench.watcher(on_event=on_event, on_progress=self._sync_progressed)
        self._watcher = watcher
        try:
            watcher.run()
        except WorkbenchError as exc:
            self.post_message(WorkFailed(exc.title, exc.message))

    @work(exit_on_error=False, thread=True, exclusive=True, group="sync")
    def sync_all(self) -> None:
        try:
            report = self.workbench.ingest(on_progress=self._sync_progressed)
        except WorkbenchError as exc:
            self.post_message(WorkFailed(exc.title, exc.message))
            return
        self.post_message(SyncFinished(report))

    def _sync_progressed(self, progress: SyncProgress) -> None:
        """A sync's progress, from its worker thread to the app (floods coalesce)."""
        self.post_message(SyncProgressed(progress))

    @work(exit_on_error=False, thread=True, group="folders")
    def _add_folder(self, folder: str | None) -> None:
        """Add ``folder`` to the library (None: the bundled demo library)."""
        try:
            added = self.workbench.add_folder(folder) if folder else self.workbench.add_demo()
        except WorkbenchError as exc:
            self.post_message(WorkFailed(exc.title, exc.message))
            return
        self.call_from_thread(self.notify, f"Indexing {added}…", title="Folder added")
        self.call_from_thread(self.log_activity, f"Added folder {added}.")
        if not self.watching:  # the watcher picks new folders up by itself
            self.sync_all()
        self.post_message(LibraryChanged())

    @work(exit_on_error=False, thread=True, group="folders")
    def _remove_folder(self, folder: str) -> None:
        try:
            purged = self.workbench.remove_folder(folder)
        except WorkbenchError as exc:
            self.post_message(WorkFailed(exc.title, exc.message))
            return
        self.call_from_thread(
            self.log_activity, f"Removed folder {folder} ({purged} files purged)."
        )
        self.post_message(LibraryChanged())

    def forget_path(self, path: str) -> None:
        self._forget(path)

    @work(exit_on_error=False, thread=True, group="folders")
    def _forget(self, path: str) -> None:
        try:
            result = self.workbench.forget(path)
        except WorkbenchError as exc:
            self.post_message(WorkFailed(exc.title, exc.message))
            return
        receipt = result.receipt
        checked = receipt["verification"]
        note = (
            f"Forgot {len(result.paths)} file(s); verified: {checked['versions_scanned']} "
            f"versions and {checked['files_scanned']} files scanned, 0 matches "
            f"(receipt {receipt['id']})."
        )
        self.call_from_thread(self.notify, note, title="Forgotten")
        self.call_from_thread(self.log_activity, note)
        self.post_message(LibraryChanged())

    # -- message handlers ------------------------------------------------------------------------
    @on(SyncProgressed)
    def sync_progressed(self, message: SyncProgressed) -> None:
        progress = message.progress
        name = progress.path.rsplit("/", 1)[-1]
        if progress.phase == "index" and progress.total:
            self.sync_text = f"Indexing {progress.done}/{progress.total} {name}"
        elif progress.phase == "scan":
            self.sync_text = f"Scanning… {progress.done} files"
        elif progress.phase == "finish":
            self.sync_text = "Updating the search indexes…"

    @on(SyncFinished)
    def sync_finished(self, message: SyncFinished) -> None:
        report = message.report
        self._report_sync("Sync now", report.as_json()["files"], report.seconds, report.changes)

    @on(WatchEventReceived)
    def watch_event(self, message: WatchEventReceived) -> None:
        event = message.event
        data = event.data
        if event.event == "batch":
            label = "Caught up with the disk" if data["trigger"] == "startup" else "Synced"
            if data["changes"] or data["trigger"] == "startup":
                self._report_sync(label, data["files"], data["seconds"], data["changes"])
            else:
                self.sync_text = self._idle_text()
        elif event.event == "started":
            self.log_activity(f"Watching {len(data['folders'])} folder(s).")
        elif event.event == "folder_missing":
            self.log_activity(f"[red]Folder missing[/]: {data['path']} (index kept)")
            self.notify(
                f"{data['path']} is gone; its index is kept.",
                title="Folder missing",
                severity="warning",
            )
            self.refresh_library()
        elif event.event in ("folder_back", "folder_added", "folder_removed"):
            self.log_activity(f"{event.event.replace('_', ' ').capitalize()}: {data['path']}")
            self.refresh_library()
        elif event.event == "busy":
            self.log_activity(f"[yellow]Library busy[/]: {data['message']}")
        elif event.event == "warning":
            self.log_activity(f"[yellow]Warning[/]: {escape(data['message'])}")
            self.notify(
                data["message"], title="Watching", severity="warning", timeout=30, markup=False
            )

    @on(WorkFailed)
    def work_failed(self, message: WorkFailed) -> None:
        self.log_activity(f"[red]{message.title}[/]: {message.message}")
        self.notify(message.message, title=message.title, severity="error", timeout=10)
        self.sync_text = self._idle_text()

    @on(Worker.StateChanged)
    def worker_crashed(self, event: Worker.StateChanged) -> None:
        """A bug in a worker: a notification and a saved traceback, never a crashed app."""
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        self.post_message(WorkFailed("Unexpected error", unexpected_message(event.worker.error)))

    @on(LibraryChanged)
    def library_changed(self) -> None:
        self.refresh_library()

    # -- helpers ---------------------------------------------------------------------------------
    def refresh_library(self) -> None:
        """Tell the screen on view that the library changed (others reload when shown)."""
        if self.screen_stack:  # not while shutting down
            self.screen.post_message(LibraryChanged())

    def log_activity(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.activity.append(Text.from_markup(f"[dim]{stamp}[/] {line}"))
        if len(self.activity) > ACTIVITY_LIMIT:
            del self.activity[: len(self.activity) - ACTIVITY_LIMIT]
        self.activity_count = len(self.activity)

    def _report_sync(
        self,
        label: str,
        files: Mapping[str, int],
        seconds: float,
        changes: Sequence[Mapping[str, str]],
    ) -> None:
        self.log_activity(escape(sync_line(label, files, seconds)))
        for line in change_lines(changes, CHANGES_LOGGED):
            self.log_activity(f"   {escape(line)}")
        self.sync_text = self._idle_text()
        if changes:  # a sync that changed nothing (the usual start-up) leaves the views be
            self.refresh_library()

    def _idle_text(self) -> str:
        return "Watching for changes." if self.watching else "Ready."

    def _first_run_choice(self, choice: str | None) -> None:
        if choice == "add":
            self.action_add_folder()
        elif choice == "demo":
            self._add_folder(None)

    def _add_folder_chosen(self, folder: str | None) -> None:
        if folder:
            self._add_folder(folder)


def make_app(workbench: Workbench, *, watch: bool = True, first_run: bool = True) -> WorkbenchApp:
    """The app over ``workbench`` (tests inject one with a shared embedder and model)."""
    return WorkbenchApp(workbench, watch=watch, first_run=first_run)
