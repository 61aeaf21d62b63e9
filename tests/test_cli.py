"""The CLI as scripts and people use it: CliRunner, and the entry point in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from workbench.cli.app import build_cli

runner = CliRunner()


def run(workbench: Any, *args: str) -> Any:
    return runner.invoke(build_cli(), list(args), obj=workbench, catch_exceptions=False)


def test_library_commands_json_contract(workbench: Any, library: Path) -> None:
    assert run(workbench, "add", str(library)).exit_code == 0
    result = run(workbench, "ingest", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["files"]) == {
        "new",
        "changed",
        "unchanged",
        "renamed",
        "deleted",
        "failed",
        "skipped",
    }
    assert set(report["chunks"]) == {"embedded", "reused", "deleted"}
    assert isinstance(report["seconds"], float)

    result = run(workbench, "search", "prune roses", "--k", "2", "--json")
    results = json.loads(result.stdout)["results"]
    assert len(results) == 2
    assert set(results[0]) == {"path", "locator", "score", "text", "kind"}
    assert results[0]["path"].endswith("garden.md")
    assert results[0]["locator"] == {"lines": [9, 9], "heading": "Garden > Roses"}

    status = json.loads(run(workbench, "status", "--json").stdout)
    assert status["files"] == 3 and status["chunks"] >= 3
    assert status["failed"] == [] and isinstance(status["version"], int)

    folders = json.loads(run(workbench, "folders", "--json").stdout)["folders"]
    assert folders[0]["path"] == str(library) and folders[0]["files"] == 3


def test_search_filters(workbench: Any, library: Path) -> None:
    run(workbench, "add", str(library))
    run(workbench, "ingest")
    by_kind = json.loads(
        run(workbench, "search", "fibonacci garden", "--kind", "code", "--json").stdout
    )
    assert {r["kind"] for r in by_kind["results"]} == {"code"}
    by_path = json.loads(
        run(workbench, "search", "water", "--path", "notes/*.txt", "--json").stdout
    )
    assert [Path(r["path"]).name for r in by_path["results"]] == ["travel.txt"]
    for mode in ("vector", "text"):
        hits = json.loads(run(workbench, "search", "fibonacci", "--mode", mode, "--json").stdout)
        assert hits["results"][0]["path"].endswith("fib.py"), mode


def test_errors_are_messages_not_tracebacks(workbench: Any, tmp_path: Path) -> None:
    result = run(workbench, "add", str(tmp_path / "missing"))
    assert result.exit_code == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    result = run(workbench, "ingest")
    assert result.exit_code == 1 and "workbench add PATH" in result.stderr
    result = run(workbench, "search", "x", "--mode", "fuzzy")
    assert result.exit_code == 1 and "hybrid, vector, text" in result.stderr
    # An option out of its range is a usage error naming the option, not "an unexpected
    # error" with a crash report (typer's vendored click raises its own exceptions).
    for args, option in ((["search", "x", "--k", "0"], "--k"), (["stats", "--days", "0"], "--days"),
                         (["watch", "--metrics-port", "70000"], "--metrics-port")):  # fmt: skip
        result = run(workbench, *args)
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '{option}'" in result.output
        assert "unexpected error" not in result.output


def test_paths_and_plugins(workbench: Any, workbench_home: Path) -> None:
    paths = json.loads(run(workbench, "paths", "--json").stdout)
    assert all(value.startswith(str(workbench_home)) for value in paths.values())
    plugins = json.loads(run(workbench, "plugins", "--json").stdout)["plugins"]
    builtins = next(p for p in plugins if p["name"] == "workbench.builtins")
    assert {"register_extractors", "register_embedders"} <= set(builtins["hooks"])


def test_installed_entry_point_as_a_user(library: Path, workbench_home: Path) -> None:
    exe = Path(sys.executable).parent / "workbench"
    env = dict(os.environ, WORKBENCH_HOME=str(workbench_home))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), *args], env=env, capture_output=True, text=True, timeout=120
        )

    assert cli("add", str(library)).returncode == 0
    ingest = cli("ingest", "--json")
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["files"]["new"] == 3
    search = cli("search", "train to Lisbon")
    assert search.returncode == 0 and "travel.txt" in search.stdout
    bad = cli("remove", "/nowhere")
    assert bad.returncode == 1 and "not a library folder" in bad.stderr


def test_help_is_fast_and_light() -> None:
    code = (
        "import sys; from workbench.cli.app import build_cli; build_cli();"
        "heavy = {'lancedb', 'onnxruntime', 'pyarrow', 'textual', 'tokenizers'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_status_lists_failures_and_groups_skips_by_reason(workbench: Any, library: Path) -> None:
    for name in ("a.zip", "b.zip", "c.zip"):
        (library / name).write_bytes(b"PK\x03\x04 not really")
    (library / "empty.txt").write_text("")
    broken = library / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not a pdf body")
    run(workbench, "add", str(library))
    run(workbench, "ingest")

    lines = run(workbench, "status").stdout.splitlines()
    assert "1 files failed" in lines[2]
    assert lines[3].startswith(f"  {broken}: ")
    assert f"  no extractor for .zip files yet: {library / 'a.zip'} and 2 more" in lines
    assert f"  empty file (0 bytes): {library / 'empty.txt'}" in lines
    assert not any("b.zip" in line for line in lines)

    listed = run(workbench, "status", "--all").stdout
    assert all(str(library / name) in listed for name in ("a.zip", "b.zip", "c.zip"))


def test_a_bug_prints_a_message_and_saves_the_traceback(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "buggy.py").write_text(
        "from workbench.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef register_commands(cli):\n"
        "    @cli.command()\n    def buggy():\n        {}['missing']\n"
    )
    home = tmp_path / "home"
    env = dict(os.environ, WORKBENCH_HOME=str(home), WORKBENCH_PLUGINS_DIR=str(plugins))
    exe = Path(sys.executable).parent / "workbench"
    result = subprocess.run([str(exe), "buggy"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "KeyError: 'missing'" in result.stderr
    saved = list((home / "data" / "logs").glob("error-*.txt"))
    assert len(saved) == 1 and str(saved[0]) in result.stderr.replace("\n", "")
    assert "Traceback" in saved[0].read_text()
