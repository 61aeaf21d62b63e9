"""The real app in a real terminal (tmux), driven with keys and read off the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
TIMEOUT = 90.0


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

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> str:
        """Read the screen until ``text`` shows, as a person watching it would."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            assert time.monotonic() < deadline, f"{text!r} never appeared; screen:\n{screen}"
            time.sleep(0.2)  # a person's glance at the screen, not a stand-in for sync

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
    terminal.keys("C-p")
    terminal.wait_for("Search for commands")
    terminal.type("Search")
    terminal.wait_for("Search the library")
    terminal.keys("Enter")
    terminal.wait_for("Search your library")
    terminal.type("how do I reset my password")
    terminal.keys("Enter")
    screen = terminal.wait_for("demo/notes/account-help.md")
    assert "Resetting your password" in screen


def test_palette_ask_shows_a_cited_answer(terminal: Terminal) -> None:
    terminal.wait_for("Watching for changes.")
    terminal.keys("C-p")
    terminal.wait_for("Search for commands")
    terminal.type("Ask")
    terminal.wait_for("checked citations")
    terminal.keys("Enter")
    terminal.wait_for("Ask your library a question")
    terminal.type("How long does the password reset link stay valid?")
    terminal.keys("Enter")
    screen = terminal.wait_for("Groundedness", timeout=240)  # loads the model, then answers
    assert "[1]" in screen
    assert "account-help.md" in screen
