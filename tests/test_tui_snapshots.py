"""Snapshot tests pin the layout: fixed size, fixed library path, no watcher, no clock."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from workbench.tui.app import make_app
from workbench.workbench import Workbench, demo_library

# A fixed path, so the paths on screen are the same on every machine and run.
SNAPSHOT_LIBRARY = Path("/tmp/workbench-snapshot/demo")
SIZE = (110, 32)


@pytest.fixture
def snapshot_app(workbench: Workbench) -> Any:
    shutil.rmtree(SNAPSHOT_LIBRARY, ignore_errors=True)
    shutil.copytree(demo_library(), SNAPSHOT_LIBRARY)
    workbench.add_folder(SNAPSHOT_LIBRARY)
    workbench.ingest()
    app = make_app(workbench, watch=False, first_run=False)
    yield app
    shutil.rmtree(SNAPSHOT_LIBRARY, ignore_errors=True)


async def _steady(pilot: Any) -> None:
    """Wait until the workers are done and every table (also under a dialog) has settled:
    filled, then laid out again for its new column widths. Under load that second layout
    pass can take several turns of the event loop; a snapshot taken before it shows
    truncated columns."""
    pilot.app.sub_title = "snapshot"
    await pilot.app.workers.wait_for_complete()
    previous, stable = None, 0
    for _ in range(200):
        await pilot.pause(0.02)
        await pilot.app.workers.wait_for_complete()  # one may have started meanwhile
        await pilot.wait_for_scheduled_animations()
        state = [
            (table.row_count, table.virtual_size,
             [(c.content_width, c.get_render_width(table)) for c in table.columns.values()])
            for screen in pilot.app.screen_stack
            for table in screen.query(DataTable)
        ]  # fmt: skip
        stable = stable + 1 if state == previous else 0
        if stable == 3:
            break
        previous = state
    for screen in pilot.app.screen_stack:  # lay everything out once more, at its final size
        for table in screen.query(DataTable):
            table.refresh(layout=True)
        screen.refresh(layout=True)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def test_library_layout(snap_compare: Any, snapshot_app: Any) -> None:
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=_steady)


def test_search_layout(snap_compare: Any, snapshot_app: Any) -> None:
    async def search(pilot: Any) -> None:
        await pilot.press("f2", *"reset password", "enter")
        await _steady(pilot)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=search)


def test_help_layout(snap_compare: Any, snapshot_app: Any) -> None:
    async def help_screen(pilot: Any) -> None:
        # The library must be listed before the dialog covers it: a screen under a dialog
        # is not laid out again when its tables fill.
        while not pilot.app.screen.query_one("#files", DataTable).row_count:
            await pilot.pause(0.05)
        await _steady(pilot)
        await pilot.press("question_mark")
        await _steady(pilot)  # the library's tables behind it finish their second layout pass

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=help_screen)


def test_agent_layout(snap_compare: Any, snapshot_app: Any) -> None:
    async def agent_screen(pilot: Any) -> None:
        await pilot.press("f6")
        await _steady(pilot)

    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=agent_screen)
