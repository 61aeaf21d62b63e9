"""Folders as people really have them: links out of the library, names that are not UTF-8,
paths typed with `..` in them. Nothing outside the added folders is read; nothing stops a sync."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.workbench import Workbench

SECRET = "root:x:0:0 the kiln password is marmalade"


def ingest(workbench: Workbench) -> dict[str, Any]:
    return workbench.ingest().as_json()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder that is not part of the library, holding something private."""
    private = tmp_path / "etc"
    private.mkdir()
    (private / "shadow").write_text(SECRET + "\n")
    (private / "passwd.txt").write_text(SECRET + "\n")
    return private


def test_links_out_of_the_library_are_not_followed(
    workbench: Workbench, tmp_path: Path, outside: Path
) -> None:
    notes = tmp_path / "notes"
    (notes / "inner").mkdir(parents=True)
    (notes / "inner" / "plan.txt").write_text("Glaze the bowls on Friday.\n")
    (notes / "etc").symlink_to(outside)  # ln -s /etc notes/etc
    (notes / "shadow-link").symlink_to(outside / "shadow")
    (notes / "inner-link").symlink_to(notes / "inner" / "plan.txt")  # stays inside: followed
    workbench.add_folder(notes)
    report = ingest(workbench)

    indexed = {
        p for p, r in workbench.library.store.file_records().items() if r.status == "indexed"
    }
    assert indexed == {str(notes / "inner" / "plan.txt"), str(notes / "inner-link")}
    assert not workbench.search("marmalade kiln password", path_glob="*shadow")
    assert all("marmalade" not in hit.text for hit in workbench.search("root password"))
    reasons = {Path(p["path"]).name: p["reason"] for p in report["problems"]}
    assert reasons["etc"].startswith(f"symbolic link to {outside}, outside your added folders")
    assert "allow_link_targets" in reasons["etc"]
    assert reasons["shadow-link"].startswith(f"symbolic link to {outside / 'shadow'}, outside")


def test_a_watcher_event_through_a_link_out_is_not_read(
    workbench: Workbench, tmp_path: Path, outside: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "etc").symlink_to(outside)
    workbench.add_folder(notes)
    # What a watcher passes: a path below the link, as if a file there had changed.
    report = workbench.ingest(notes / "etc" / "passwd.txt").as_json()
    assert report["files"]["new"] == 0
    assert not any("marmalade" in hit.text for hit in workbench.search("kiln password"))


def test_allowed_link_targets_are_followed(
    make_workbench: Any, tmp_path: Path, outside: Path
) -> None:
    workbench = make_workbench(allow_link_targets=[str(outside)])
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "etc").symlink_to(outside)
    workbench.add_folder(notes)
    assert ingest(workbench)["files"]["new"] == 2


def test_a_link_to_another_added_folder_is_followed(workbench: Workbench, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / "recipe.txt").write_text("Bake the sourdough at 240 degrees.\n")
    (first / "to-second").symlink_to(second)
    workbench.add_folder(first)
    workbench.add_folder(second)
    ingest(workbench)
    indexed = {
        p for p, r in workbench.library.store.file_records().items() if r.status == "indexed"
    }
    assert str(first / "to-second" / "recipe.txt") in indexed


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses names that are not UTF-8")
def test_a_name_that_is_not_utf8_is_skipped_and_the_sync_goes_on(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "fine.txt").write_text("The loom needs new heddles before spring.\n")
    raw = os.fsencode(folder)
    with open(raw + b"/bad\xff\xfe.txt", "wb") as f:
        f.write(b"Latin-1 named notes about the loom.\n")
    os.mkdir(raw + b"/dir\xe9")
    with open(raw + b"/dir\xe9/inside.txt", "wb") as f:
        f.write(b"A file in a folder whose name is not UTF-8.\n")
    workbench.add_folder(folder)
    report = ingest(workbench)
    assert report["files"]["new"] == 1
    reasons = {p["path"]: p["reason"] for p in report["problems"]}
    assert set(reasons) == {f"{folder}/bad\\xff\\xfe.txt", f"{folder}/dir\\xe9"}
    assert all("not valid UTF-8" in reason and "rename" in reason for reason in reasons.values())
    assert [hit.path for hit in workbench.search("heddles loom")][0] == str(folder / "fine.txt")
    again = ingest(workbench)
    assert again["files"]["unchanged"] == 3 and not again["problems"]
    # The CLI prints it too, without a traceback.
    result = CliRunner().invoke(build_cli(), ["status", "--json"], obj=workbench)
    assert result.exit_code == 0, result.output
    assert any("\\xff" in row["path"] for row in json.loads(result.stdout)["failed"])


def test_adding_a_folder_whose_name_is_not_utf8_says_what_to_do(
    workbench: Workbench, tmp_path: Path
) -> None:
    from workbench.errors import WorkbenchError

    raw = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(raw)
    with pytest.raises(WorkbenchError, match="not valid UTF-8.*Rename"):
        workbench.add_folder(os.fsdecode(raw))


def test_path_filter_is_normalised(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    ingest(workbench)
    roundabout = f"{library}/code/../notes/*"
    hits = workbench.search("train to Lisbon", path_glob=roundabout)
    assert hits and all(hit.path.startswith(str(library / "notes")) for hit in hits)
    assert workbench.search("train to Lisbon", path_glob=f"{library}//notes/")
    elsewhere = workbench.search("train to Lisbon", path_glob=f"{library}/notes/../code/*")
    assert elsewhere and all(hit.path.startswith(str(library / "code")) for hit in elsewhere)
