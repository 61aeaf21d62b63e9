"""The real app in a real terminal (tmux), driven with keys and read off the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
# Generous: a busy machine (a parallel test run) slows the first embedder load and sync.
TIMEOUT = 180.0


class Terminal:
    def __init__(self, home: Path) -> None:
        # A tmux server of its own (-L): a test never races another's server shutting down,
        # nor touches the person's own tmux sessions.
        self.session = f"wb-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.session]
        exe = Path(sys.executable).parent / "workbench"
        command = f"env WORKBENCH_HOME={home} TERM=xterm-256color {exe} demo"
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", self.session, "-x", "120", "-y", "36", command],
            check=True,
            env={k: v for k, v in os.environ.items() if k != "TMUX"},
        )

    def screen(self) -> str:
        result = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.session], capture_output=True, text=True
        )
        return result.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.session, *keys], check=True)

    def type(self, text: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.session, "-l", text], check=True)

    def wait_for(
        self,
        text: str,
        timeout: float = TIMEOUT,
        gone: str | None = None,
        failure: str | None = None,
    ) -> str:
        """Read the screen until ``text`` shows (and ``gone`` does not), as a person would.

        ``failure`` on the screen ends the wait at once: no point waiting out the timeout.
        """
        return self.wait_until(
            lambda screen: text in screen and (gone is None or gone not in screen),
            repr(text),
            timeout,
            failure,
        )

    def wait_until(
        self,
        shown: Callable[[str], bool],
        what: str,
        timeout: float = TIMEOUT,
        failure: str | None = None,
    ) -> str:
        """Read the screen until ``shown(screen)`` holds; ``failure`` on it ends the wait."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            assert failure is None or failure not in screen, f"{failure!r} shows:\n{screen}"
            if shown(screen):
                return screen
            assert time.monotonic() < deadline, f"{what} never appeared; screen:\n{screen}"
            time.sleep(0.2)  # a person's glance at the screen, not a stand-in for sync

    def run_command(self, name: str) -> None:
        """Pick ``name`` in the command palette: open it, type, wait for the list, Enter."""
        self.keys("C-p")
        # The whole list shows once the palette is up with its input focused; keys typed
        # while only its placeholder shows can be lost (then Enter picks the first command).
        self.wait_for("Add a folder to the library")
        self.type(name)
        # Enter picks the highlighted command: wait until the query is in and the list is
        # filtered (the placeholder also starts with "Search", so match the whole line).
        self.wait_until(
            lambda screen: (
                any(line.strip() == f"🔎 {name}" for line in screen.splitlines())
                and "Add a folder to the library" not in screen
            ),
            f"the palette filtered to {name!r}",
        )
        self.keys("Enter")

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path / "home")
    yield term
    term.close()


def test_palette_search_shows_a_result(terminal: Terminal) -> None:
    terminal.wait_for("watching")
    terminal.wait_for("Watching for changes.")
    terminal.run_command("Search")
    terminal.wait_for("Search your library")
    terminal.type("how do I reset my password")
    terminal.keys("Enter")
    screen = terminal.wait_for("demo/notes/account-help.md")
    assert "Resetting your password" in screen


def test_palette_ask_shows_a_cited_answer(terminal: Terminal) -> None:
    terminal.wait_for("Watching for changes.")
    terminal.run_command("Ask")
    terminal.wait_for("Ask your library a question")
    # Typed at once, before the model picker has loaded: the default model answers.
    terminal.type("How long does the password reset link stay valid?")
    terminal.keys("Enter")
    # Loads the model, then answers; a failure shows in the answer pane as "No answer".
    screen = terminal.wait_for("Groundedness", timeout=300, failure="No answer")
    assert "[1]" in screen
    assert "account-help.md" in screen
