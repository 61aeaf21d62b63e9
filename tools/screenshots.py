"""Regenerate the terminal UI screenshots in assets/screenshots/ (SVG, as Textual exports them).

    uv run python tools/screenshots.py

Drives the real app over the bundled demo library in a throwaway WORKBENCH_HOME, with the real
embedder and the bundled chat model, and saves one screenshot per screen.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from workbench.config import Settings
from workbench.paths import resolve_paths
from workbench.tui.app import make_app
from workbench.workbench import Workbench, demo_library

OUT = Path(__file__).resolve().parents[1] / "assets" / "screenshots"
SIZE = (130, 38)


async def shoot(pilot, name: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.3)
    pilot.app.sub_title = "demo library"
    await pilot.pause()
    pilot.app.save_screenshot(f"{name}.svg", path=str(OUT))
    print("saved", OUT / f"{name}.svg")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "demo"
        shutil.copytree(demo_library(), library)
        workbench = Workbench(resolve_paths(Path(tmp) / "home"), Settings())
        workbench.add_folder(library)
        workbench.ingest()
        app = make_app(workbench, watch=False, first_run=False)
        async with app.run_test(size=SIZE) as pilot:
            await shoot(pilot, "library")
            await pilot.press("f2", *"how do I reset my password", "enter")
            await shoot(pilot, "search")
            await pilot.press("f3", *"How long does the password reset link stay valid?", "enter")
            deadline = time.monotonic() + 300
            while app.screen.record is None and time.monotonic() < deadline:  # type: ignore[attr-defined]
                await pilot.pause(0.2)
            await shoot(pilot, "ask")
            await pilot.press("f4")
            await shoot(pilot, "models")
            await pilot.press("f5")
            await shoot(pilot, "activity")
            await pilot.press("question_mark")
            await shoot(pilot, "help")


if __name__ == "__main__":
    asyncio.run(main())
