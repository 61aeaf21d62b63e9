"""Pilot tests: each screen's main flow through the real core (real store, real embedder)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static

from workbench.tui.app import make_app
from workbench.tui.screens.activity import ActivityScreen
from workbench.tui.screens.dialogs import (
    AddFolderScreen,
    ConfirmScreen,
    FirstRunScreen,
    HelpScreen,
)
from workbench.tui.screens.library import FoldersLoaded, LibraryScreen
from workbench.tui.screens.search import SearchScreen
from workbench.workbench import Workbench, demo_library

SIZE = (120, 36)


async def until(pilot: Any, predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Let the app run until ``predicate`` holds (workers post their results meanwhile)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def table_rows(app: Any, selector: str) -> list[list[str]]:
    table = app.screen.query_one(selector, DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def static_text(app: Any, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)
    return str(widget.render())


class LibraryLoads:
    """Counts the Library screen's loads (each posts one FoldersLoaded); a ``message_hook``."""

    def __init__(self) -> None:
        self.loaded: dict[int, Message] = {}

    def __call__(self, message: Message) -> None:
        if isinstance(message, FoldersLoaded):
            self.loaded[id(message)] = message  # once, however many pumps it reaches

    @property
    def count(self) -> int:
        return len(self.loaded)


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(demo_library(), target)
    return target


async def test_first_run_offers_the_demo_library(workbench: Workbench) -> None:
    app = make_app(workbench)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FirstRunScreen), "first-run dialog")
        await pilot.click("#demo")
        await until(pilot, lambda: isinstance(app.screen, LibraryScreen), "library")
        await until(
            pilot,
            lambda: sum("indexed" in row[0] for row in table_rows(app, "#files")) == 8,
            "the demo's 8 files indexed",
        )
        assert workbench.folders() == [str(demo_library())]


async def test_library_follows_the_disk(workbench: Workbench, demo_copy: Path) -> None:
    workbench.add_folder(demo_copy)
    app = make_app(workbench)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(table_rows(app, "#files")) == 8, "8 files listed")
        (demo_copy / "notes" / "fresh.md").write_text(
            "# Fresh\n\nA note saved while the app runs.\n"
        )
        (demo_copy / "reports" / "q3-summary.txt").unlink()
        await until(
            pilot,
            lambda: (
                any(
                    "fresh.md" in row[2] and "indexed" in row[0]
                    for row in table_rows(app, "#files")
                )
                and not any("q3-summary" in row[2] for row in table_rows(app, "#files"))
            ),
            "the new file indexed and the deleted one gone",
        )
        assert any("fresh.md" in str(line) for line in app.activity)


async def test_forget_a_file_from_the_library_screen(workbench: Workbench, demo_copy: Path) -> None:
    workbench.add_folder(demo_copy)
    workbench.ingest()
    target = next(p for p in sorted(demo_copy.rglob("*.md")))
    app = make_app(workbench)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(table_rows(app, "#files")) == 8, "8 files listed")
        files = app.screen.query_one("#files", DataTable)
        files.focus()
        files.move_cursor(row=files.get_row_index(str(target)))
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("escape")  # cancel: nothing happens
        await until(pilot, lambda: isinstance(app.screen, LibraryScreen), "back to the library")
        assert workbench.search("x", k=50) and workbench.lineage(target).indexed is not None
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.click("#confirm")
        await until(
            pilot,
            lambda: any("forgotten" in row[4] for row in table_rows(app, "#files")),
            "the file shown as forgotten",
        )
        assert any("Forgot 1 file(s); verified" in str(line) for line in app.activity)
        assert all(hit.path != str(target) for hit in workbench.search("notes", k=50))


async def test_an_idle_library_is_not_reloaded(workbench: Workbench, demo_copy: Path) -> None:
    workbench.add_folder(demo_copy)
    workbench.ingest()
    loads = LibraryLoads()
    app = make_app(workbench)
    async with app.run_test(size=SIZE, message_hook=loads) as pilot:
        await until(
            pilot,
            lambda: (
                any("Caught up" in str(line) for line in app.activity)
                and len(table_rows(app, "#files")) == 8
            ),
            "the watcher caught up and the files listed",
        )
        settled = loads.count
        await pilot.pause(1.0)  # idle: the watcher runs, nothing changes on disk
        assert loads.count - settled == 0, "an unchanged library was loaded again"


async def test_picking_a_folder_loads_it_once(
    workbench: Workbench, demo_copy: Path, library: Path
) -> None:
    workbench.add_folder(demo_copy)
    workbench.add_folder(library)
    workbench.ingest()
    loads = LibraryLoads()
    app = make_app(workbench, watch=False)
    async with app.run_test(size=SIZE, message_hook=loads) as pilot:
        await until(pilot, lambda: len(table_rows(app, "#folders")) == 2, "both folders listed")
        screen = app.screen
        assert isinstance(screen, LibraryScreen)
        other = next(row[0] for row in table_rows(app, "#folders") if row[0] != screen.selected)
        screen.query_one("#folders", DataTable).focus()
        before = loads.count
        await pilot.press("down")  # refilling the tables must not count as picking again
        await until(
            pilot, lambda: f"Files in {other} (" in static_text(app, "#files-title"), "its files"
        )
        await pilot.pause(1.0)
        assert loads.count - before == 1
        assert screen.selected == other


async def test_search_shows_hits_and_preview_in_context(
    workbench: Workbench, demo_copy: Path
) -> None:
    workbench.add_folder(demo_copy)
    workbench.ingest()
    app = make_app(workbench, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        assert isinstance(app.screen, SearchScreen)
        await pilot.press(*"how do I reset my password", "enter")
        await until(pilot, lambda: len(table_rows(app, "#results")) > 0, "results")
        first = table_rows(app, "#results")[0]
        assert first[3] == "demo/notes/account-help.md"
        assert "Resetting your password" in first[4]
        preview = static_text(app, "#preview")
        assert "Reset password" in preview and "## Two-factor" in preview  # lines around the hit
        await pilot.press("down")
        assert table_rows(app, "#results")[1][3] in static_text(app, "#preview")


async def test_palette_add_folder_and_sync_now(workbench: Workbench, demo_copy: Path) -> None:
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"Add folder")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AddFolderScreen), "add-folder dialog")
        await pilot.press(*"/definitely/not/here", "enter")
        assert "is not a folder" in str(app.screen.query_one("#folder-error").render())
        app.screen.query_one("#folder-path").value = str(demo_copy)
        await pilot.press("enter")
        await until(pilot, lambda: len(table_rows(app, "#files")) == 8, "files after Sync now")
        await pilot.press("ctrl+p")
        await pilot.press(*"Activity", "enter")
        await until(pilot, lambda: isinstance(app.screen, ActivityScreen), "activity screen")
        assert any("Added folder" in str(line) for line in app.activity)
        # The files are listed (pending) before the sync that indexes them has finished.
        await until(pilot, lambda: any("8 new" in str(line) for line in app.activity), "8 new")


async def test_errors_become_notifications(workbench: Workbench, tmp_path: Path) -> None:
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.remove_folder(str(tmp_path / "never-added"))
        await until(
            pilot, lambda: any(n.title == "Not in library" for n in app._notifications), "error"
        )
        assert app.is_running


async def test_a_bug_in_a_worker_is_a_notification_not_a_crash(
    workbench: Workbench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))

    def broken(folder: str) -> int:  # a fault: a bug deep in the core
        raise KeyError("chunks")

    monkeypatch.setattr(workbench, "remove_folder", broken)
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.remove_folder(str(tmp_path))
        await until(
            pilot, lambda: any(n.title == "Unexpected error" for n in app._notifications), "error"
        )
        note = next(n for n in app._notifications if n.title == "Unexpected error")
        assert "KeyError" in note.message and "Nothing already indexed is lost" in note.message
        saved = list((tmp_path / "home" / "data" / "logs").glob("error-*.txt"))
        assert saved and "Traceback" in saved[0].read_text()
        assert app.is_running


async def test_help_screen(workbench: Workbench) -> None:
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, LibraryScreen)


@pytest.mark.slow
async def test_ui_stays_responsive_during_a_big_sync(workbench: Workbench, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    words = "sample assay buffer enzyme kinetics titration reagent protocol".split()
    for i in range(600):  # long enough paragraphs that indexing takes many seconds
        text = " ".join(words[(i * k) % len(words)] for k in range(1, 160))
        (big / f"file-{i:04d}.txt").write_text(f"Record {i}, lab {i % 11}. {text}\n")
    workbench.add_folder(big)
    app = make_app(workbench, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.sync_text.startswith("Indexing"), "sync under way")
        ticks: list[float] = []  # the event loop's heartbeat while the worker indexes
        app.set_interval(0.05, lambda: ticks.append(time.monotonic()))
        await pilot.press("f2")  # keys are handled while the worker indexes
        await pilot.press(*"lab", "enter")
        assert isinstance(app.screen, SearchScreen)
        assert app.screen.query_one("#query").value == "lab"
        assert app.sync_text.startswith("Indexing"), "the sync should still be running"
        await until(
            pilot, lambda: app.sync_text == "Watching for changes.", "sync done", timeout=300
        )
        gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:], strict=False)]
        assert len(gaps) > 20 and max(gaps) < 1.0, f"the UI froze for {max(gaps):.2f}s"


async def test_image_hit_shows_the_picture(workbench: Workbench, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    folder = tmp_path / "pictures"
    folder.mkdir()
    image = Image.new("RGB", (640, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 640, 40), fill=(200, 30, 30))
    draw.text((20, 90), "RECEIPT NUMBER 4471", fill="black", font_size=40)
    image.save(folder / "receipt.png")
    workbench.add_folder(folder)
    workbench.ingest()
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2", *"receipt number", "enter")
        await until(pilot, lambda: "▀" in static_text(app, "#preview"), "picture in the preview")
        assert "receipt.png" in static_text(app, "#preview")


async def test_ask_streams_a_cited_answer_and_keeps_history(
    workbench: Workbench, demo_copy: Path
) -> None:
    from workbench.tui.screens.ask import AskScreen

    workbench.add_folder(demo_copy)
    workbench.ingest()
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        assert isinstance(app.screen, AskScreen)
        screen = app.screen
        await pilot.press(*"How long does the password reset link stay valid?", "enter")
        await until(pilot, lambda: screen.record is not None, "the answer", timeout=180)
        record = screen.record
        assert record is not None and not record.declined
        assert any(c.path.endswith("account-help.md") for c in record.citations)
        assert "Groundedness" in static_text(app, "#grounding")
        # The checked markers show in the answer, also where Workbench chose them for the model.
        cited = sorted(set(re.findall(r"\[\d+\]", record.answer)))
        assert cited and all(marker in static_text(app, "#answer") for marker in cited)
        sources = table_rows(app, "#sources")
        assert sources and sources[0][0].startswith("[")
        assert "demo/notes/account-help.md" in static_text(app, "#source-preview")
        await until(pilot, lambda: len(table_rows(app, "#history")) == 1, "the answer in history")
        assert any("tok/s" in str(line) for line in app.activity)


async def test_ask_declines_what_the_library_cannot_answer(
    workbench: Workbench, demo_copy: Path
) -> None:
    workbench.add_folder(demo_copy)
    workbench.ingest()
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        await pilot.press(*"Who won the 1998 football world cup final?", "enter")
        await until(pilot, lambda: screen.record is not None, "the reply", timeout=180)
        assert screen.record.declined is True
        assert "Declined" in static_text(app, "#grounding")


async def test_ask_uses_the_default_model_until_the_picker_has_one(
    workbench: Workbench, demo_copy: Path
) -> None:
    workbench.add_folder(demo_copy)
    workbench.ingest()
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f3")
        screen = app.screen
        picker = screen.query_one("#model", Select)
        await until(pilot, lambda: not picker.is_blank(), "the model picker filled")
        # Blank, as it is before its worker has read the models (a question typed at once);
        # nothing refills it until the answer is in.
        picker.clear()
        await pilot.press(*"How long does the password reset link stay valid?", "enter")
        await until(
            pilot,
            lambda: screen.record is not None or "No answer" in static_text(app, "#answer"),
            "the answer",
            timeout=180,
        )
        assert not [n.message for n in app._notifications if n.severity == "error"]
        assert screen.record is not None and screen.record.model == workbench.model().name


async def test_a_failed_ask_says_why_in_the_answer_pane(workbench: Workbench) -> None:
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", *"What is in my library?", "enter")
        await until(pilot, lambda: "No answer" in static_text(app, "#answer"), "the failure")
        # The notification vanishes; the reason stays where the answer would have been.
        assert "library is empty" in static_text(app, "#answer")
        assert "workbench add PATH" in static_text(app, "#answer")


async def test_new_question_starts_from_an_empty_input(workbench: Workbench) -> None:
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", *"first question")
        question = app.screen.query_one("#question", Input)
        assert question.value == "first question"
        await pilot.press("tab", "ctrl+l")  # from anywhere on the screen
        assert question.value == "" and question.has_focus
        await pilot.press(*"second question")
        assert question.value == "second question"


async def test_models_screen_lists_and_sets_the_default(workbench: Workbench) -> None:
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f4")
        await until(pilot, lambda: len(table_rows(app, "#models")) >= 1, "models listed")
        bundled = next(row for row in table_rows(app, "#models") if "smollm2" in row[1])
        assert bundled[0] == "★" and bundled[2] == "llama" and bundled[4] == "Q4_1"
        assert "GPU offload" in static_text(app, "#model-info")
        await pilot.press("enter")
        await until(pilot, lambda: any(n.title == "Model" for n in app._notifications), "use")
        assert workbench.model().name == bundled[1]


async def test_offline_shows_a_badge_and_remote_models_in_the_picker(
    workbench: Workbench,
) -> None:
    from workbench.config import BackendConfig

    workbench.settings.offline = True
    workbench.settings.backends = {
        "gpu": BackendConfig("gpu", "openai", "http://127.0.0.1:9/v1", model="qwen-32b")
    }
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.sub_title.startswith("OFFLINE · nothing leaves this machine")
        await pilot.press("f3")
        picker = app.screen.query_one("#model", Select)
        await until(pilot, lambda: not picker.is_blank(), "the model picker filled")
        labels = [str(label) for label, _ in picker._options]
        assert "gpu:qwen-32b (remote, offline: answered locally)" in labels


@pytest.mark.slow
async def test_the_agent_screen_shows_steps_then_the_answer(
    workbench: Workbench, demo_copy: Path
) -> None:
    workbench.add_folder(demo_copy)
    workbench.ingest()
    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        screen = app.screen
        assert "Give the agent a task" in static_text(app, "#agent-answer")
        await pilot.press(*"How long is the password reset link valid?", "enter")
        await until(pilot, lambda: screen.run_record is not None, "the run", timeout=240)
        run = screen.run_record
        rows = table_rows(app, "#steps")
        assert len(rows) == len(run.steps) >= 1  # every step shown, in order
        assert [row[0] for row in rows] == [str(step.n) for step in run.steps]
        assert rows[0][1].startswith(run.steps[0].tool or "(invalid)")
        status = static_text(app, "#agent-status")
        assert run.stop_reason in status and run.id in status
        assert workbench.agents.get(run.id).task == run.task  # logged
