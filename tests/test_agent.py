"""Agents end to end: the built-in tools on a real library, runs with the real models, the run
log, the CLI, and a tool added by a loose plugin file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core.agents.confinement import ToolError
from workbench.core.agents.tools import ToolContext

PLUGIN = """
from workbench.hookspecs import hookimpl


class Shout:
    name = "shout"
    description = "Return the text in capital letters."
    parameters = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 50}},
                  "required": ["text"], "additionalProperties": False}

    def run(self, arguments):
        return arguments["text"].upper()


@hookimpl
def register_tools(register):
    register(Shout())
"""


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "travel.md").write_text(
        "# Travel\n\nThe train to Lisbon leaves at 07:40 from platform 3.\n"
    )
    (folder / "stock.csv").write_text("sku,name,warehouse,quantity\nA-1,Kettle,Porto,12\n")
    return folder


@pytest.fixture
def agent_workbench(make_workbench: Any, library: Path) -> Any:
    workbench = make_workbench(scan_model_caches=False)
    workbench.add_folder(library)
    workbench.ingest()
    return workbench


def bound(workbench: Any, write_dir: Path | None = None) -> tuple[dict[str, Any], ToolContext]:
    runner = workbench.agents
    context = ToolContext(workbench.library, runner._confinement(), write_dir)
    return runner._bound(context), context


def test_built_in_tools_on_a_real_library(agent_workbench: Any, library: Path) -> None:
    tools, context = bound(agent_workbench)
    assert "write_note" not in tools  # only with --allow-write
    found = tools["search"].run({"query": "train to Lisbon", "kind": "any"})
    assert found.startswith("[1] ") and "travel.md" in found and "07:40" in found
    read = tools["read"].run({"path": str(library / "stock.csv")})
    assert "Kettle" in read and read.startswith("[2] ")
    assert context.snippets[1].path.endswith("stock.csv")  # numbered for citations
    listed = tools["list_files"].run({"kind": "data"})
    assert "stock.csv" in listed and "travel.md" not in listed
    info = tools["file_info"].run({"path": "travel.md"})
    assert "status: indexed" in info and "kind: markdown" in info
    with pytest.raises(ToolError, match="outside the library"):
        tools["read"].run({"path": "/etc/passwd"})
    with pytest.raises(ToolError, match="outside the library"):
        tools["read"].run({"path": str(library / ".." / "elsewhere.txt")})


def test_write_note_only_inside_its_folder_and_never_silently_over(
    agent_workbench: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    tools, _ = bound(agent_workbench, out)
    note = tools["write_note"]
    assert "Saved" in note.run({"name": "summary.md", "text": "hello"})
    with pytest.raises(ToolError, match="overwrite"):
        note.run({"name": "summary.md", "text": "again"})
    assert "Replaced" in note.run({"name": "summary.md", "text": "again", "overwrite": True})
    with pytest.raises(ToolError):
        note.run({"name": "../escape.md", "text": "x"})
    assert sorted(p.name for p in out.iterdir()) == ["summary.md"]
    assert (out / "summary.md").read_text() == "again"


@pytest.mark.slow
def test_a_run_is_schema_valid_logged_and_shown(agent_workbench: Any) -> None:
    steps: list[Any] = []
    run = agent_workbench.agents.run(
        "When does the train to Lisbon leave?",
        on_step=lambda progress: progress.step and steps.append(progress.step),
    )
    assert run.steps and steps == run.steps  # reported live, as they happened
    assert all(step.valid or "cut off" in step.result for step in run.steps)
    assert run.stop_reason in {"answered", "step_limit", "repeated_call"}
    assert [s.n for s in run.steps] == list(range(1, len(run.steps) + 1))
    logged = agent_workbench.agents.get(run.id)
    assert logged.as_json() == run.as_json()
    shown = CliRunner().invoke(build_cli(), ["agent", "show", run.id, "--json"],
                               obj=agent_workbench)  # fmt: skip
    assert json.loads(shown.stdout) == run.as_json()
    human = CliRunner().invoke(build_cli(), ["agent", "show", run.id], obj=agent_workbench)
    assert run.task in human.stdout and f"agent run {run.id}" in human.stdout


@pytest.mark.slow
def test_a_loose_plugin_files_tool_is_used(make_workbench: Any, library: Path) -> None:
    workbench = make_workbench(scan_model_caches=False, chat_model="qwen2.5-coder-1.5b-instruct")
    workbench.paths.plugins_dir.mkdir(parents=True, exist_ok=True)
    (workbench.paths.plugins_dir / "shout.py").write_text(PLUGIN)  # before plugins load
    if any(m.name == "qwen2.5-coder-1.5b-instruct" and m.error for m in workbench.models()):
        pytest.skip("the 1.5B model's parts are not installed (uv sync installs them)")
    workbench.add_folder(library)
    workbench.ingest()
    run = workbench.agents.run(
        'Call the shout tool with the text "quiet please", then answer with what it returns.',
        tools=["shout"],
    )
    calls = [(step.tool, step.arguments) for step in run.steps]
    assert ("shout", {"text": "quiet please"}) in calls, calls
    assert "QUIET PLEASE" in run.answer and run.answered
    assert "shout" in run.params["tools"]


def test_agent_show_of_an_unknown_id_is_a_clear_error(agent_workbench: Any) -> None:
    for bad in ("zz", "../x"):  # never taken for a two-word task
        result = CliRunner().invoke(build_cli(), ["agent", "show", bad], obj=agent_workbench)
        assert result.exit_code == 1 and "agent run" in result.stderr, result.stderr
        assert "See `workbench agent list`" in result.stderr


def test_allow_write_needs_a_folder_that_exists(agent_workbench: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_cli(), ["agent", "x", "--allow-write", str(tmp_path / "missing")], obj=agent_workbench
    )
    assert result.exit_code == 1 and "no such folder" in result.stderr
