from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import WorkbenchError
from workbench.plugins import build_plugin_manager, collect_named

NOTE_PLUGIN = """
from pathlib import Path
from workbench.core.extraction.documents import Block, Extraction
from workbench.hookspecs import hookimpl


class NoteExtractor:
    name = "note"
    version = "1"
    suffixes = frozenset({".note"})
    filenames = frozenset()

    def extract(self, path: Path, data: bytes) -> Extraction:
        title, _, body = data.decode().partition("\\n")
        return Extraction("note", [Block(body.strip(), 2, 2, title.strip())])


@hookimpl
def register_extractors(register):
    register(NoteExtractor())
"""


def test_loose_plugin_file_adds_an_extractor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_workbench: Any
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "notes.py").write_text(NOTE_PLUGIN)
    monkeypatch.setenv("WORKBENCH_PLUGINS_DIR", str(plugins))
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.note").write_text("Shopping\nbuy oat milk and lemons\n")
    workbench = make_workbench()
    workbench.add_folder(folder)
    assert workbench.ingest().as_json()["files"]["new"] == 1
    hit = workbench.search("oat milk", k=1)[0]
    assert hit.kind == "note" and hit.locator == {"lines": [2, 2], "heading": "Shopping"}


def test_name_clash_names_both_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "rival.py").write_text(
        textwrap.dedent(
            """
            from workbench.hookspecs import hookimpl

            @hookimpl
            def register_embedders(register):
                register("minilm-l6-int8", lambda: None)
            """
        )
    )
    manager = build_plugin_manager(plugins)
    with pytest.raises(WorkbenchError, match="workbench.builtins.*workbench_plugin_rival"):
        collect_named(manager, "register_embedders")


def test_broken_plugin_file_says_which(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(WorkbenchError, match="broken.py failed to load"):
        build_plugin_manager(plugins)


def test_every_hook_is_documented() -> None:
    from workbench import hookspecs
    from workbench.plugins import HOOK_NAMES

    for name in HOOK_NAMES:
        assert getattr(hookspecs, name).__doc__, name
