"""Shared fixtures: every test gets its own WORKBENCH_HOME; the real embedder is loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workbench.config import Settings
from workbench.core.answering.models import BUNDLED_NAME
from workbench.paths import resolve_paths
from workbench.workbench import Workbench


@pytest.fixture(autouse=True)
def workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    for name in ("WORKBENCH_PLUGINS_DIR", "WORKBENCH_MAX_FILE_MB", "WORKBENCH_IGNORE"):
        monkeypatch.delenv(name, raising=False)
    # Tests answer with the bundled model (135M: fast) unless they choose another; the default
    # (the best installed packaged model) has tests of its own.
    monkeypatch.setenv("WORKBENCH_CHAT_MODEL", BUNDLED_NAME)
    return home


@pytest.fixture(scope="session")
def embedder() -> Any:
    from workbench.core.index.embedding import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture
def make_workbench(workbench_home: Path, embedder: Any) -> Any:
    """Build a Workbench on the test's home that shares the session's real embedder."""

    def make(**settings: Any) -> Workbench:
        settings.setdefault("chat_model", BUNDLED_NAME)  # small and fast, unless a test asks
        workbench = Workbench(resolve_paths(workbench_home), Settings(**settings))
        workbench.__dict__["embedder"] = embedder
        return workbench

    return make


@pytest.fixture
def workbench(make_workbench: Any) -> Workbench:
    return make_workbench()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A small real folder of mixed text files."""
    root = tmp_path / "library"
    (root / "notes").mkdir(parents=True)
    (root / "code").mkdir()
    (root / "notes" / "garden.md").write_text(
        "# Garden\n\n## Tomatoes\n\n"
        "Water tomatoes deeply twice a week and pinch out side shoots.\n\n"
        "## Roses\n\nPrune roses in late winter, just above an outward-facing bud.\n",
        encoding="utf-8",
    )
    (root / "notes" / "travel.txt").write_text(
        "Train to Lisbon leaves at 07:40 from platform 3.\n\n"
        "The hotel near Alfama has breakfast from seven until ten.\n",
        encoding="utf-8",
    )
    (root / "code" / "fib.py").write_text(
        "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
        "    return a\n",
        encoding="utf-8",
    )
    return root
