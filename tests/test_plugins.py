"""Plugins: loose files, entry points, clashes, tools, and the README's hook reference."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench import hookspecs
from workbench.errors import WorkbenchError
from workbench.paths import resolve_paths
from workbench.plugins import (
    HOOK_NAMES,
    build_plugin_manager,
    collect_named,
    collect_objects,
    collect_tools,
)

README = Path(__file__).resolve().parents[1] / "README.md"

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
    specs = {name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)}
    assert specs == set(HOOK_NAMES)
    for name in HOOK_NAMES:
        assert getattr(hookspecs, name).__doc__, name


def plugins_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("\n## Plugins\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_is_documented_in_the_readme(name: str) -> None:
    # As datasette does: a heading per hook that matches its signature, in "## Plugins".
    signature = f"{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"
    headings = re.findall(r"^#### `(.+)`$", plugins_section(), flags=re.MULTILINE)
    assert signature in headings, f"README.md's Plugins section has no `#### `{signature}`"


COUNTER_PLUGIN = """
from pathlib import Path
import os

with open(Path(os.environ["COUNTER_FILE"]), "a") as counter:
    counter.write("loaded\\n")
"""


def run_entry_point(tmp_path: Path, *args: str) -> tuple[dict[str, Any], int]:
    """``workbench ARGS --json`` as a user runs it, with a loose plugin counting its loads."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "counter.py").write_text(COUNTER_PLUGIN)
    counter = tmp_path / "loads.txt"
    env = dict(
        os.environ,
        WORKBENCH_HOME=str(tmp_path / "home"),
        WORKBENCH_PLUGINS_DIR=str(plugins),
        COUNTER_FILE=str(counter),
    )
    exe = Path(sys.executable).parent / "workbench"
    result = subprocess.run(
        [str(exe), *args, "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), len(counter.read_text().splitlines())


def test_a_plugin_file_runs_once_per_invocation(tmp_path: Path) -> None:
    # main() builds the manager for plugin commands; the Workbench it opens must reuse it.
    _, loads = run_entry_point(tmp_path, "plugins")
    assert loads == 1


def test_plugins_json_says_how_each_was_loaded(tmp_path: Path) -> None:
    listed, _ = run_entry_point(tmp_path, "plugins")
    rows = {row["name"]: row for row in listed["plugins"]}
    assert rows["workbench.builtins"]["source"] == "builtin"
    whisper = rows["whisper"]
    assert (whisper["source"], whisper["distribution"]) == ("entry point", "workbench-whisper")
    assert whisper["version"] == "0.1.0" and whisper["hooks"] == ["register_extractors"]
    loose = rows["workbench_plugin_counter"]
    assert loose["source"] == "file" and loose["path"] == str(tmp_path / "plugins" / "counter.py")
    assert loose["hooks"] == []


TOOL_PLUGIN = """
from workbench.hookspecs import hookimpl


class Shout:
    name = "{name}"
    description = "Upper-cases a text."
    parameters = {{"type": "object", "properties": {{"text": {{"type": "string"}}}}}}

    def run(self, arguments):
        return arguments["text"].upper()


@hookimpl
def register_tools(register):
    register(Shout())
"""


def test_collect_tools_by_name(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "shout.py").write_text(TOOL_PLUGIN.format(name="shout"))
    tools = collect_tools(build_plugin_manager(plugins))
    tool, owner = tools["shout"]
    assert owner == "workbench_plugin_shout"
    assert tool.run({"text": "quiet"}) == "QUIET"
    assert tool.parameters["properties"]["text"]["type"] == "string"


def test_tool_name_clash_names_both_plugins(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "first.py").write_text(TOOL_PLUGIN.format(name="shout"))
    (plugins / "second.py").write_text(TOOL_PLUGIN.format(name="shout"))
    manager = build_plugin_manager(plugins)
    with pytest.raises(WorkbenchError, match="workbench_plugin_first.*workbench_plugin_second"):
        collect_tools(manager)


def test_without_the_whisper_plugin_audio_is_skipped_saying_what_to_install(
    tmp_path: Path, workbench_home: Path
) -> None:
    from workbench.cli.app import build_cli
    from workbench.workbench import Workbench

    manager = build_plugin_manager(load_entry_points=False)  # as if it were not installed
    workbench = Workbench(resolve_paths(workbench_home), plugin_manager=manager)
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "call.wav").write_bytes(b"RIFF\x04\x00\x00\x00WAVE")

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(build_cli(), [*args], obj=workbench, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in args else None

    cli("add", str(folder))
    report = cli("ingest", "--json")
    assert report["files"]["skipped"] == 1
    reason = report["problems"][0]["reason"]
    assert reason.startswith("audio is not transcribed: the workbench-whisper plugin is not")
    assert "`pip install ./plugins/workbench-whisper`" in reason and "`uv sync`" in reason
    whisper = next(e for e in cli("doctor", "--json")["engines"] if e["name"] == "whisper")
    assert not whisper["available"]
    assert "pip install ./plugins/workbench-whisper" in whisper["install"]
    assert whisper["affected"] == [str(folder / "call.wav")]


def readme_block(caption: str) -> str:
    """The fenced block that follows ``caption`` in the README's Plugins section."""
    after = plugins_section().split(caption, 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]


def test_the_readme_third_party_plugin_works(tmp_path: Path) -> None:
    import tomllib

    project = tomllib.loads(readme_block("`workbench-subtitles/pyproject.toml`:"))
    assert project["project"]["entry-points"]["workbench"] == {"subtitles": "workbench_subtitles"}
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    module = readme_block("`workbench-subtitles/workbench_subtitles.py`:")
    (plugins / "workbench_subtitles.py").write_text(module)
    manager = build_plugin_manager(plugins, load_entry_points=False)
    extractors = {e.name: e for e, _ in collect_objects(manager, "register_extractors")}
    srt = b"1\r\n00:00:01,000 --> 00:00:04,200\r\nThe keeper counts\r\nthe ships.\r\n\r\n2\r\n"
    srt += b"01:01:05,500 --> 01:01:09,000\r\nNobody has seen the cargo.\r\n"
    extraction = extractors["srt"].extract(Path("harbour.srt"), srt)
    assert [(b.text, b.start_s, b.end_s) for b in extraction.blocks] == [
        ("The keeper counts the ships.", 1.0, 4.2),
        ("Nobody has seen the cargo.", 3665.5, 3669.0),
    ]


def test_a_plugin_extractor_replaces_a_builtin_one(tmp_path: Path) -> None:
    from workbench.core.extraction.registry import ExtractorRegistry

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "notes.py").write_text(NOTE_PLUGIN.replace('{".note"}', '{".note", ".md"}'))
    manager = build_plugin_manager(plugins, load_entry_points=False)
    extractors = collect_objects(manager, "register_extractors")
    assert extractors[0][1] == "workbench.builtins" and extractors[-1][1].endswith("_notes")
    registry = ExtractorRegistry(extractors)
    assert registry.for_path("plan.md")[0].name == "note"  # not a clash with the built-in
