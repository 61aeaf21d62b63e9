"""Models: the local chat models, which is the default, load state, context and GPU offload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.errors import WorkbenchError
from workbench.presentation import size_label
from workbench.tui.messages import WorkFailed
from workbench.tui.widgets.status import SyncStatus

if TYPE_CHECKING:
    from workbench.core.answering.models import ModelInfo


class ModelsListed(Message):
    def __init__(self, models: list[ModelInfo], runtime: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.models = models
        self.runtime = runtime


class ModelsScreen(Screen[None]):
    """Every GGUF model found; Enter makes the highlighted one the default."""

    BINDINGS = [Binding("u", "use", "Use as default"), Binding("r", "reload", "Rescan")]

    def __init__(self) -> None:
        super().__init__()
        self.models: list[ModelInfo] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "Local models (GGUF): Enter (or u) makes one the default", classes="pane-title"
        )
        yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
        yield Static(id="model-info")
        yield SyncStatus(id="sync-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#models", DataTable).add_columns(
            "", "name", "arch", "params", "quant", "context", "size", "source", "state"
        )
        self.action_reload()

    def action_reload(self) -> None:
        self.list_models()

    @work(exit_on_error=False, thread=True, exclusive=True, group="models")
    def list_models(self) -> None:
        workbench = self.app.workbench  # type: ignore[attr-defined]
        try:
            models = workbench.models()
            runtime = workbench.runtimes()
        except WorkbenchError as exc:
            self.app.post_message(WorkFailed(exc.title, exc.message))
            return
        self.post_message(ModelsListed(models, runtime))

    @on(ModelsListed)
    def show(self, message: ModelsListed) -> None:
        self.models = message.models
        settings = self.app.workbench.settings  # type: ignore[attr-defined]
        loaded = {
            path for runtime in message.runtime.values() for path in runtime.get("loaded", [])
        }
        table = self.query_one("#models", DataTable)
        table.clear()
        for model in message.models:
            state = (
                "[red]unusable[/]"
                if model.error
                else "[green]loaded[/]"
                if model.path in loaded
                else ""
            )
            table.add_row(
                "★" if model.default else "",
                model.name,
                model.arch or "?",
                model.params_label,
                model.quant or "?",
                str(model.context or "?"),
                size_label(model.size),
                model.source,
                state,
            )
        runtime = message.runtime.get("llama-cpp", next(iter(message.runtime.values()), {}))
        offload = "available" if runtime.get("gpu_offload") else "not in this build (CPU only)"
        self.query_one("#model-info", Static).update(
            f"Runtime: llama.cpp {runtime.get('version', '?')} · GPU offload {offload} · "
            f"gpu_layers = {settings.gpu_layers} · context_size = {settings.context_size} · "
            f"threads = {settings.threads or 'auto'}\n"
            "Models are read from the models folder, files added with `workbench models add`, "
            "and the LM Studio, Ollama and Hugging Face caches (found, never copied)."
        )

    @on(DataTable.RowSelected, "#models")
    def row_selected(self) -> None:
        self.action_use()

    def action_use(self) -> None:
        table = self.query_one("#models", DataTable)
        if 0 <= table.cursor_row < len(self.models):
            self.use_model(self.models[table.cursor_row].name)

    @work(exit_on_error=False, thread=True, group="models-use")
    def use_model(self, name: str) -> None:
        try:
            model = self.app.workbench.use_model(name)  # type: ignore[attr-defined]
        except WorkbenchError as exc:
            self.app.post_message(WorkFailed(exc.title, exc.message))
            return
        self.app.call_from_thread(
            self.app.notify, f"{model.name} is now the default model.", title="Model"
        )
        self.list_models()
