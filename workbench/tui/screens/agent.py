"""The Agent screen: a task, the steps as the model takes them (each tool call with its
arguments and a short result), then the answer with checked citations. Esc stops the run."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from workbench.errors import WorkbenchError
from workbench.presentation import format_locator, step_result_line
from workbench.tui.messages import WorkFailed
from workbench.tui.screens.search import short_path
from workbench.tui.widgets.status import SyncStatus

if TYPE_CHECKING:
    from workbench.core.agents.records import AgentRun, AgentStep
    from workbench.core.agents.runner import StepProgress

INTRO = (
    'Give the agent a task that takes more than one look-up, e.g. "Which item has the most '
    'units in stock, and in which warehouse?". It searches, reads and calculates step by step '
    "(shown above as it goes), then answers with citations checked against what it read."
)


class AgentStepTaken(Message):
    def __init__(self, step: AgentStep) -> None:
        super().__init__()
        self.step = step


class AgentThinking(Message):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n


class AgentFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class AgentFinished(Message):
    def __init__(self, run: AgentRun) -> None:
        super().__init__()
        self.run = run


class AgentScreen(Screen[None]):
    """Tasks done by a model with tools over the library."""

    BINDINGS = [Binding("escape", "stop", "Stop run")]

    def __init__(self) -> None:
        super().__init__()
        self.run_record: AgentRun | None = None
        self._stop = threading.Event()
        self._steps = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="agent-bar"):
            yield Input(placeholder="A task for the agent…", id="task")
        yield DataTable(id="steps", cursor_type="row")
        yield Static(INTRO, id="agent-answer")
        yield Static(id="agent-status")
        yield SyncStatus(id="sync-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#steps", DataTable).add_columns("#", "call", "result")
        self.query_one("#task", Input).focus()

    def action_stop(self) -> None:
        self._stop.set()

    @on(Input.Submitted, "#task")
    def submit(self, event: Input.Submitted) -> None:
        task = event.value.strip()
        if not task:
            return
        self._stop.clear()
        self._steps = 0
        self.run_record = None
        self.query_one("#steps", DataTable).clear()
        self.query_one("#agent-answer", Static).update(Text("Working…", style="dim"))
        self.query_one("#agent-status", Static).update("")
        self.run_agent(task)

    @work(exit_on_error=False, thread=True, exclusive=True, group="agent")
    def run_agent(self, task: str) -> None:
        def on_step(progress: StepProgress) -> None:
            if progress.step is not None:
                self.post_message(AgentStepTaken(progress.step))
            else:
                self.post_message(AgentThinking(self._steps + 1))

        try:
            run = self.app.workbench.agents.run(  # type: ignore[attr-defined]
                task, on_step=on_step, should_stop=self._stop.is_set
            )
        except WorkbenchError as exc:
            self.app.post_message(WorkFailed(exc.title, exc.message))
            self.post_message(AgentFailed(f"No answer. {exc.title}: {exc.message}"))
            return
        self.post_message(AgentFinished(run))

    @on(AgentFailed)
    def failed(self, message: AgentFailed) -> None:
        self.query_one("#agent-answer", Static).update(Text(message.text, style="red"))
        self.query_one("#agent-status", Static).update("")

    @on(AgentThinking)
    def thinking(self, message: AgentThinking) -> None:
        self.query_one("#agent-status", Static).update(
            Text(f"Step {message.n}: the model is choosing… (Esc stops)", style="dim")
        )

    @on(AgentStepTaken)
    def step_taken(self, message: AgentStepTaken) -> None:
        step = message.step
        self._steps = step.n
        call = f"{step.tool or '(invalid)'} {json.dumps(step.arguments, ensure_ascii=False)}"
        shown, _ = step_result_line(step.result)
        result = Text(shown[:100], style="red" if step.error else "")
        self.query_one("#steps", DataTable).add_row(str(step.n), call[:70], result)

    @on(AgentFinished)
    def finished(self, message: AgentFinished) -> None:
        run = self.run_record = message.run
        folders = self.app.workbench.folders()  # type: ignore[attr-defined]
        answer = Text(run.answer or "No answer.", style="" if run.answer else "yellow")
        for citation in run.citations:
            where = format_locator(citation.locator)
            answer.append(f"\n[{citation.n}] {short_path(citation.path, folders)} {where}",
                          style="cyan")  # fmt: skip
        self.query_one("#agent-answer", Static).update(answer)
        status = (
            f"{run.stop_reason} · {len(run.steps)} steps · groundedness {run.groundedness:.2f}"
            f" · {run.model} · {run.total_ms / 1000:.1f} s · run {run.id}"
        )
        self.query_one("#agent-status", Static).update(Text(status, style="dim"))
        self.app.log_activity(  # type: ignore[attr-defined]
            f"Agent run {run.id}: {run.stop_reason} after {len(run.steps)} steps."
        )
