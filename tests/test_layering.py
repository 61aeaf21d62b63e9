"""The layers import one way, enforced here rather than hoped for.

core/ never imports a front end or the facade; the front ends (cli/, tui/) reach the core only
through the facade, the presentation module and the error family, and name core's record
types only for the type checker.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import workbench

PACKAGE = Path(workbench.__file__).parent
FRONT_ENDS = ("textual", "typer", "rich", "workbench.cli", "workbench.tui", "workbench.service")

# What a front end may import at run time, besides its own package, the stdlib and
# third-party libraries.
FRONT_END_RUNTIME = {
    "workbench.workbench",
    "workbench.errors",
    "workbench.presentation",
    "workbench.hookspecs",
}
# What it may name only under `if TYPE_CHECKING:`: the records the facade returns.
FRONT_END_ANNOTATIONS = {
    "workbench.core.index.search",  # SearchResult
    "workbench.core.index.sync",  # SyncReport, SyncProgress
    "workbench.core.index.watcher",  # WatchEvent, LibraryWatcher
    "workbench.core.answering.models",  # ModelInfo
    "workbench.core.answering.rag",  # AskProgress
    "workbench.backends.remote.health",  # BackendHealth
    "workbench.core.agents.records",  # AgentRun, AgentStep
    "workbench.core.agents.runner",  # StepProgress, Limits
    "workbench.core.answering.chat",  # Completion
}
# The command line opens the terminal UI when no command is given, and runs the services.
CLI_OPENS_UI = "workbench.tui.app"
CLI_RUNS_SERVICES = ("workbench.service.mcp_server", "workbench.service.openai_api")


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(module, annotation_only) for each import in ``path``; annotation_only when it sits in
    an ``if TYPE_CHECKING:`` block. ``from workbench import x`` counts as ``workbench.x``."""

    def visit(node: ast.AST, annotation_only: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, True)
            for child in node.orelse:
                yield from visit(child, annotation_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, annotation_only
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute imports"
            module = node.module or ""
            if module == "workbench":
                for alias in node.names:
                    yield f"workbench.{alias.name}", annotation_only
            else:
                yield module, annotation_only
        for child in ast.iter_child_nodes(node):
            yield from visit(child, annotation_only)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")), False)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path) -> set[str]:
    return {name for name, _ in imports(path)}


def is_internal(name: str) -> bool:
    return name == "workbench" or name.startswith("workbench.")


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def front_end_offence(name: str, annotation_only: bool, own: str) -> str | None:
    """Why a front end in package ``own`` may not import ``name`` this way, or None."""
    if not is_internal(name) or under(name, own) or name in FRONT_END_RUNTIME:
        return None
    if own == "workbench.cli" and (name == CLI_OPENS_UI or name in CLI_RUNS_SERVICES):
        return None
    if annotation_only and (
        name in FRONT_END_ANNOTATIONS
        or (under(name, "workbench.core") and name.endswith(".records"))
    ):
        return None
    if annotation_only:
        return "is not a record module (annotations may name core's records only)"
    return "at run time (go through the facade or workbench.presentation)"


def test_core_and_backends_do_not_import_front_ends() -> None:
    offenders = []
    for layer in ("core", "backends"):
        for path in (PACKAGE / layer).rglob("*.py"):
            for name in imported_modules(path):
                if name.startswith(FRONT_ENDS):
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_core_does_not_import_the_facade_or_the_presentation() -> None:
    above = ("workbench.workbench", "workbench.presentation", "workbench.cli", "workbench.tui")
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in (PACKAGE / "core").rglob("*.py")
        for name in imported_modules(path)
        if any(under(name, layer) for layer in above)
    ]
    assert offenders == []


def test_facade_does_not_import_front_ends() -> None:
    names = imported_modules(PACKAGE / "workbench.py")
    assert not [n for n in names if n.startswith(FRONT_ENDS)]


def test_front_ends_reach_the_core_only_through_the_facade() -> None:
    offenders = []
    for own in ("cli", "tui", "service"):
        for path in sorted((PACKAGE / own).rglob("*.py")):
            for name, annotation_only in imports(path):
                why = front_end_offence(name, annotation_only, f"workbench.{own}")
                if why:
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {name} {why}")
    assert offenders == []


def test_the_layering_check_sees_type_checking_blocks(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "from workbench import presentation\n"
        "if TYPE_CHECKING:\n"
        "    from workbench.core.answering.records import AnswerRecord\n"
        "if typing.TYPE_CHECKING:\n"
        "    from workbench.core.index.store import Store\n"
        "def later():\n"
        "    from workbench.core.index.search import search\n"
    )
    found = list(imports(sample))
    assert ("workbench.presentation", False) in found
    assert ("workbench.core.answering.records", True) in found
    assert ("workbench.core.index.store", True) in found
    assert ("workbench.core.index.search", False) in found  # inside a function is run time
    offences = {name: front_end_offence(name, only, "workbench.cli") for name, only in found}
    assert offences["workbench.presentation"] is None
    assert offences["workbench.core.answering.records"] is None
    assert offences["workbench.core.index.store"] is not None
    assert offences["workbench.core.index.search"] is not None


def test_presentation_is_light_and_front_end_neutral() -> None:
    """No front-end library anywhere in it; on import, only the stdlib and the crash report
    (core modules load inside the functions that need them)."""
    names = imported_modules(PACKAGE / "presentation.py")
    assert not [n for n in names if n.startswith(FRONT_ENDS)]
    for module in ("presentation.py", "crash.py"):
        tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
        loaded = {
            name
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
        }
        heavy = {
            name
            for name in loaded
            if name.split(".")[0] not in sys.stdlib_module_names and name != "workbench.crash"
        }
        assert heavy == set(), module
