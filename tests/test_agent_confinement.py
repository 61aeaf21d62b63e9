"""Agent tools reach only files inside the library's folders: `..`, absolute paths, symlinks
out, prefix tricks and a folder removed mid-run are refused with a message the model can use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.core.agents.confinement import Confinement, ToolError


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "sub" / "a.md").write_text("inside\n")
    evil = tmp_path / "notes-evil"
    evil.mkdir()
    (evil / "secret.txt").write_text("outside\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    os.symlink(tmp_path / "secret.txt", notes / "link-out.txt")
    os.symlink(notes / "sub" / "a.md", notes / "link-in.md")
    return {"root": tmp_path, "notes": notes, "evil": evil}


def confined(folders: list[Path]) -> Confinement:
    return Confinement(lambda: [str(f) for f in folders])


def test_paths_inside_the_library_resolve(tree: dict[str, Path]) -> None:
    confinement = confined([tree["notes"]])
    inside = tree["notes"] / "sub" / "a.md"
    assert confinement.resolve(str(inside)) == inside.resolve()
    assert confinement.resolve("sub/a.md") == inside.resolve()  # relative to its one folder
    assert confinement.resolve(str(tree["notes"] / "link-in.md")) == inside.resolve()


@pytest.mark.parametrize(
    "path",
    [
        "{notes}/../secret.txt",  # ..
        "{notes}/sub/../../notes-evil/secret.txt",  # .. through a real subfolder
        "/etc/passwd",  # absolute, elsewhere
        "{notes}-evil/secret.txt",  # prefix trick: /notes-evil is not inside /notes
        "{notes}/link-out.txt",  # a symlink pointing out
        "../secret.txt",  # relative, escaping
        "",  # nothing
    ],
)
def test_paths_outside_are_refused_with_what_to_do(tree: dict[str, Path], path: str) -> None:
    confinement = confined([tree["notes"]])
    with pytest.raises(ToolError) as caught:
        confinement.resolve(path.format(notes=tree["notes"]))
    message = caught.value.message
    assert "outside the library" in message or "full path" in message or "file path" in message


def test_a_folder_removed_mid_run_is_out_of_bounds_at_once(tree: dict[str, Path]) -> None:
    folders = [tree["notes"], tree["evil"]]
    confinement = confined(folders)
    assert confinement.inside(str(tree["evil"] / "secret.txt"))
    folders.remove(tree["evil"])  # `workbench remove` while the agent runs
    with pytest.raises(ToolError, match="outside the library"):
        confinement.resolve(str(tree["evil"] / "secret.txt"))


def test_an_empty_library_says_so(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="no folders"):
        confined([]).resolve(str(tmp_path))
