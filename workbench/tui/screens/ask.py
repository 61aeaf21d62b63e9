"""Ask: a question, a streamed answer with [n] markers, its checked sources, earlier answers."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from workbench.errors import WorkbenchError
from workbench.presentation import (
    cited_passage,
    decline_reason,
    format_locator,
    marked_sentences,
    timing_line,
)
from workbench.tui.messages import WorkFailed
from workbench.tui.screens.search import short_path
from workbench.tui.widgets.preview import hit_preview
from workbench.tui.widgets.status import SyncStatus

if TYPE_CHECKING:
    from workbench.core.answering.models import ModelInfo
    from workbench.core.answering.rag import AskProgress
    from workbench.core.answering.records import AnswerRecord, AnswerSummary

PHASES = {
    "retrieve": "Searching the library…",
    "load": "Loading the model (once per session)…",
    "prompt": "Reading the sources…",
    "judge": "Reading the sources: do they say it?…",
    "failover": "The backend failed: answering with the fallback…",
    "generate": "Answering…",
    "check": "Checking every sentence against its sources…",
}
_MARKER = re.compile(r"\[(\d+)\]")


class AnswerTokenReceived(Message):
    """The answer so far; a flood of them coalesces to the latest."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, AnswerTokenReceived)


class AskProgressed(Message):
    def __init__(self, phase: str) -> None:
        super().__init__()
        self.phase = phase


class AskFailed(Message):
    """The ask stopped with an error; the answer pane keeps it (notifications vanish)."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title = title
        self.message = message


class AnswerFinished(Message):
    def __init__(self, record: AnswerRecord) -> None:
        super().__init__()
        self.record = record


class ModelsLoaded(Message):
    def __init__(
        self, models: list[ModelInfo], answers: list[AnswerSummary], folders: list[str]
    ) -> None:
        super().__init__()
        self.models = models
        self.answers = answers
        self.folders = folders


def answer_text(record: AnswerRecord) -> Text:
    """The answer with [n] markers in colour and unsupported sentences flagged."""
    if record.declined:
        return Text(record.answer, style="yellow")
    if not record.sentences:
        return _marked(record.answer)
    out = Text()
    for sentence in marked_sentences(record):
        piece = _marked(sentence.text)
        if sentence.unsupported:
            piece.stylize("red")
            piece.append(" ⚠", style="bold red")
        out.append_text(piece)
        out.append(" ")
    return out


def model_label(model: ModelInfo, offline: bool) -> str:
    """A picker entry: a local model with its size, a remote one with where it answers."""
    if model.source != "remote":
        return f"{model.name} ({model.params_label})"
    return f"{model.name} (remote{', offline: answered locally' if offline else ''})"


def chosen_model(picker: Select[str]) -> str | None:
    """The model picked, or None (the default model) while the picker is still blank."""
    return None if picker.is_blank() else str(picker.value)


def _marked(text: str) -> Text:
    out = Text(text)
    out.highlight_regex(_MARKER, "bold cyan")
    return out


class AskScreen(Screen[None]):
    """Questions answered from the library by a local model, with checked citations."""

    BINDINGS = [
        Binding("escape", "stop", "Stop answer"),
        Binding("ctrl+l", "focus_question", "New question"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.record: AnswerRecord | None = None
        self.history: list[AnswerSummary] = []
        self.folders: list[str] = []  # read in load_choices, not per cursor move
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="ask-bar"):
            yield Input(placeholder="Ask your library a question…", id="question")
            # Blank until the models are read: asking then uses the default model.
            yield Select([], prompt="default model", id="model", allow_blank=True)
        with Horizontal():
            with Vertical():
                yield Static(id="answer")
                yield Static(id="grounding")
                yield DataTable(id="sources", cursor_type="row")
                yield Static(id="source-preview")
            yield DataTable(id="history", cursor_type="row")
        yield SyncStatus(id="sync-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#sources", DataTable).add_columns("#", "file", "where")
        self.query_one("#history", DataTable).add_columns("earlier answers", "grounded")
        self.query_one("#answer", Static).update(
            "Ask a question about your files. Answers come from a local model and cite the "
            "passages they use; every sentence is checked against its sources."
        )
        self.query_one("#question", Input).focus()
        self.load_choices()

    def on_screen_resume(self) -> None:
        self.load_choices()

    @work(exit_on_error=False, thread=True, exclusive=True, group="ask-choices")
    def load_choices(self) -> None:
        workbench = self.app.workbench  # type: ignore[attr-defined]
        try:
            models, answers = workbench.models(), workbench.answers(50)
            folders = workbench.folders()
        except WorkbenchError as exc:
            self.app.post_message(WorkFailed(exc.title, exc.message))
            return
        self.post_message(ModelsLoaded(models, answers, folders))

    @on(ModelsLoaded)
    def show_choices(self, message: ModelsLoaded) -> None:
        select = self.query_one("#model", Select)
        usable = [m for m in message.models if not m.error]
        current = select.value
        offline = self.app.workbench.settings.offline  # type: ignore[attr-defined]
        select.set_options([(model_label(m, offline), m.name) for m in usable])
        default = next((m.name for m in usable if m.default), None)
        names = {m.name for m in usable}
        if current in names:
            select.value = current
        elif default:
            select.value = default
        self.history, self.folders = message.answers, message.folders
        table = self.query_one("#history", DataTable)
        table.clear()
        for row in message.answers:
            table.add_row(row.question[:60], f"{row.groundedness:.2f}", key=row.id)

    def action_focus_question(self) -> None:
        """Start a new question: an empty input, focused (not the last question to append to)."""
        question = self.query_one("#question", Input)
        question.clear()
        question.focus()

    def action_stop(self) -> None:
        self._stop.set()

    @on(Input.Submitted, "#question")
    def submit(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        picker = self.query_one("#model", Select)
        self._stop.clear()
        self.query_one("#answer", Static).update(Text(PHASES["retrieve"], style="dim"))
        self.query_one("#grounding", Static).update("")
        self.query_one("#sources", DataTable).clear()
        self.query_one("#source-preview", Static).update("")
        self.run_ask(question, chosen_model(picker))

    @work(exit_on_error=False, thread=True, exclusive=True, group="ask")
    def run_ask(self, question: str, model: str | None) -> None:
        workbench = self.app.workbench  # type: ignore[attr-defined]
        parts: list[str] = []

        def on_token(piece: str) -> None:
            parts.append(piece)
            self.post_message(AnswerTokenReceived("".join(parts)))

        def on_progress(progress: AskProgress) -> None:
            if progress.phase == "failover":  # the answer starts again on another backend
                parts.clear()
                self.post_message(AnswerTokenReceived(""))
            self.post_message(AskProgressed(progress.phase))

        try:
            record = workbench.ask(
                question,
                model=model,
                on_token=on_token,
                on_progress=on_progress,
                should_stop=self._stop.is_set,
            )
        except WorkbenchError as exc:
            self.app.post_message(WorkFailed(exc.title, exc.message))
            self.post_message(AskFailed(exc.title, exc.message))
            return
        self.post_message(AnswerFinished(record))

    @on(AskProgressed)
    def progressed(self, message: AskProgressed) -> None:
        if message.phase in PHASES and message.phase != "generate":
            self.query_one("#grounding", Static).update(Text(PHASES[message.phase], style="dim"))

    @on(AskFailed)
    def failed(self, message: AskFailed) -> None:
        self.query_one("#answer", Static).update(
            Text(f"No answer. {message.title}: {message.message}", style="red")
        )
        self.query_one("#grounding", Static).update("")

    @on(AnswerTokenReceived)
    def token(self, message: AnswerTokenReceived) -> None:
        self.query_one("#answer", Static).update(_marked(message.text))

    @on(AnswerFinished)
    def finished(self, message: AnswerFinished) -> None:
        self.show_record(message.record)
        self.app.log_activity(timing_line(message.record))  # type: ignore[attr-defined]
        self.load_choices()

    def show_record(self, record: AnswerRecord) -> None:
        self.record = record
        self.query_one("#answer", Static).update(answer_text(record))
        self.query_one("#grounding", Static).update(self._grounding_line(record))
        table = self.query_one("#sources", DataTable)
        table.clear()
        for citation in record.citations:
            table.add_row(
                f"[{citation.n}]",
                short_path(citation.path, self.folders),
                format_locator(citation.locator),
            )
        if record.citations:
            self._preview(0)

    def _grounding_line(self, record: AnswerRecord) -> Text:
        if record.declined:
            return Text(decline_reason(record), style="yellow")
        score = record.groundedness
        style = "green" if score >= 0.75 else "yellow" if score >= 0.4 else "red"
        line = Text(f"Groundedness {score:.2f}", style=f"bold {style}")
        flagged = len(record.unsupported)
        if flagged:
            line.append(f" · {flagged} sentence(s) not supported by the sources ⚠", style="red")
        line.append(f"\n{timing_line(record)}", style="dim")
        return line

    @on(DataTable.RowHighlighted, "#sources")
    def source_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._preview(event.cursor_row)

    def _preview(self, row: int) -> None:
        if self.record is None or not 0 <= row < len(self.record.citations):
            return
        citation = self.record.citations[row]
        label = f"[{citation.n}] {short_path(citation.path, self.folders)}"
        workbench = self.app.workbench  # type: ignore[attr-defined]
        preview = hit_preview(workbench, cited_passage(citation), label)
        self.query_one("#source-preview", Static).update(preview)

    @on(DataTable.RowSelected, "#history")
    def history_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None and event.row_key.value:
            self.load_answer(str(event.row_key.value))

    @work(exit_on_error=False, thread=True, exclusive=True, group="ask-history")
    def load_answer(self, answer_id: str) -> None:
        try:
            record = self.app.workbench.answer(answer_id)  # type: ignore[attr-defined]
        except WorkbenchError as exc:
            self.app.post_message(WorkFailed(exc.title, exc.message))
            return
        self.app.call_from_thread(self._show_logged, record)

    def _show_logged(self, record: AnswerRecord) -> None:
        self.query_one("#question", Input).value = record.question
        self.show_record(record)
