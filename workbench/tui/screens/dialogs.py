"""Modal dialogs: help, first run, add folder, confirm."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

HELP = """\
[b]Workbench[/b]: your folders, indexed and searchable, answered by local models.

[b]Screens[/b] (also in the command palette, ctrl+p, by name)
  F1  Library    folders, files and their status; add, remove, sync
  F2  Search     hybrid search with a preview of each hit in context
  F3  Ask        answers with checked citations from a local model
  F4  Models     local models: pick the default, see context and GPU offload
  F5  Activity   sync and watch events, errors, answer timings
  F6  Agent      a task done step by step with tools, answered with citations

[b]Everywhere[/b]
  ctrl+p  command palette     ctrl+o  add folder     ctrl+s  sync now
  ?       this help           ctrl+q  quit

The library is watched while the app runs: save, move or delete a file and
the index follows within a second.
"""


class HelpScreen(ModalScreen[None]):
    """Key bindings and what each screen is for."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(HELP)
            yield Button("Close", id="close", variant="primary")

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss()


class FirstRunScreen(ModalScreen[str]):
    """Offered when the library has no folders: add one, or open the demo library."""

    BINDINGS = [Binding("escape", "dismiss('skip')", "Not now")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Welcome to Workbench[/b]")
            yield Static(
                "Your library is empty. Add a folder of notes, documents or code and it will be "
                "indexed and kept current while the app runs. Or start with the bundled demo."
            )
            with Horizontal(classes="buttons"):
                yield Button("Add a folder…", id="add", variant="primary")
                yield Button("Open the demo library", id="demo")
                yield Button("Not now", id="skip")

    @on(Button.Pressed)
    def choose(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "skip")


class AddFolderScreen(ModalScreen[str | None]):
    """Asks for a folder path; validates it before closing."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("[b]Add a folder to the library[/b]")
            yield Input(placeholder="/path/to/folder (~ works)", id="folder-path")
            yield Label("", id="folder-error")
            with Horizontal(classes="buttons"):
                yield Button("Add", id="add", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def submit(self) -> None:
        raw = self.query_one("#folder-path", Input).value.strip()
        folder = Path(raw).expanduser()
        error = self.query_one("#folder-error", Label)
        if not raw:
            error.update("[red]Type a folder path.[/red]")
        elif not folder.is_dir():
            error.update(f"[red]{folder} is not a folder.[/red]")
        else:
            self.dismiss(str(folder))

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question about something that cannot be undone; True to go ahead."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, question: str, action: str) -> None:
        super().__init__()
        self.question = question
        self.action_label = action

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="confirm-question")
            with Horizontal():
                yield Button(self.action_label, variant="error", id="confirm")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#confirm")
    def confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(False)
