"""core/ never imports a front end; enforced here rather than hoped for."""

from __future__ import annotations

import ast
from pathlib import Path

import workbench

PACKAGE = Path(workbench.__file__).parent
FRONT_ENDS = ("textual", "typer", "rich", "workbench.cli", "workbench.tui")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_and_backends_do_not_import_front_ends() -> None:
    offenders = []
    for layer in ("core", "backends"):
        for path in (PACKAGE / layer).rglob("*.py"):
            for name in imported_modules(path):
                if name.startswith(FRONT_ENDS):
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_facade_does_not_import_front_ends() -> None:
    names = imported_modules(PACKAGE / "workbench.py")
    assert not [n for n in names if n.startswith(FRONT_ENDS)]
