"""A damaged index (a truncated LanceDB data file) and a full disk: every command says what
happened and what to do, `workbench repair` rebuilds from the files on disk, nothing is lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workbench.paths import resolve_paths

pytestmark = pytest.mark.slow
EXE = Path(sys.executable).parent / "workbench"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WORKBENCH_HOME=str(home))
    return subprocess.run([str(EXE), *args], env=env, capture_output=True, text=True, timeout=300)


def make_notes(root: Path, count: int, start: int = 0) -> None:
    root.mkdir(exist_ok=True)
    for i in range(start, start + count):
        (root / f"note-{i:03d}.txt").write_text(
            f"Note {i}: the kiln reached cone {i % 12} and glaze batch {i * 17} crazed.\n"
        )


def truncate_data_files(table_dir: Path, keep: int = 2000) -> list[Path]:
    """Cut every data file of a table short, as a crash or a bad copy would."""
    files = sorted((table_dir / "data").glob("*.lance"))
    for path in files:
        os.truncate(path, min(keep, path.stat().st_size // 2))
    return files


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, Path]:
    home, notes = tmp_path / "home", tmp_path / "notes"
    make_notes(notes, 40)
    assert cli(home, "add", str(notes)).returncode == 0
    assert cli(home, "ingest").returncode == 0
    return home, notes


def test_every_command_says_damaged_and_repair_rebuilds(library: tuple[Path, Path]) -> None:
    home, notes = library
    db_dir = resolve_paths(home).db_dir
    truncate_data_files(db_dir / "chunks.lance")

    for args in (["search", "kiln cone"], ["status"], ["doctor"], ["ingest"], ["ask", "kiln?"]):
        result = cli(home, *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        said = result.stdout + result.stderr
        assert "damaged" in said and "workbench repair" in said, (args, said)
    doctor = json.loads(cli(home, "doctor", "--json").stdout)
    assert doctor["library"]["damaged"] and doctor["library"]["problems"][0].startswith("chunks")

    repaired = cli(home, "repair", "--json")
    assert repaired.returncode == 0, repaired.stderr
    result = json.loads(repaired.stdout)
    assert result["folders"] == [str(notes)]
    assert result["sync"]["files"]["new"] == 40
    # The vector cache was intact: nothing is embedded again.
    assert result["sync"]["chunks"] == {"embedded": 0, "reused": 40, "deleted": 0}
    assert Path(result["damaged_copy"]).is_dir()
    search = cli(home, "search", "glaze batch 17 crazed", "--json")
    assert search.returncode == 0
    assert json.loads(search.stdout)["results"][0]["path"] == str(notes / "note-001.txt")
    assert json.loads(cli(home, "doctor", "--json").stdout)["library"]["damaged"] is False


def test_repair_reuses_the_vectors_it_can_still_read(make_workbench: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    make_notes(notes, 40)
    workbench = make_workbench()
    workbench.add_folder(notes)
    workbench.ingest()
    make_notes(notes, 40, start=40)  # a second fragment in the vector cache (not compacted)
    workbench.library.syncer.sync(workbench.folders(), optimize=False)
    db_dir = workbench.paths.db_dir
    cache = sorted((db_dir / "embeddings.lance" / "data").glob("*.lance"), key=os.path.getmtime)
    os.truncate(cache[-1], 1000)  # the second sync's vectors are gone, the first's intact
    truncate_data_files(db_dir / "files.lance")

    result = workbench.repair().as_json()
    assert any(p.startswith("embeddings") for p in result["problems"])
    assert result["salvaged"]["embeddings"] == {"kept": 40, "lost": 40}
    assert result["sync"]["files"]["new"] == 80
    assert result["sync"]["chunks"] == {"embedded": 40, "reused": 40, "deleted": 0}
    assert workbench.search("glaze batch 1003 crazed")[0].path == str(notes / "note-059.txt")


def test_a_lost_folder_list_is_read_from_the_files_table(library: tuple[Path, Path]) -> None:
    home, notes = library
    db_dir = resolve_paths(home).db_dir
    truncate_data_files(db_dir / "folders.lance", keep=10)
    result = json.loads(cli(home, "repair", "--json").stdout)
    assert result["folders"] == [str(notes)] and result["sync"]["files"]["new"] == 40


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A real 3 MiB file system (tmpfs); needs root."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mountpoint)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_disk_full_during_ingest_says_what_to_do_and_loses_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    home, notes = small_disk / "home", tmp_path / "notes"
    make_notes(notes, 30)
    assert cli(home, "add", str(notes)).returncode == 0
    assert cli(home, "ingest").returncode == 0
    before = json.loads(cli(home, "status", "--json").stdout)["files"]
    filler = small_disk / "filler"  # someone else fills the disk
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    make_notes(notes, 300, start=30)
    full = cli(home, "ingest")
    assert full.returncode == 1, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    assert "disk is full" in full.stderr and "Nothing indexed before is lost" in full.stderr
    assert "free some space" in full.stderr.lower()

    filler.unlink()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    status = cli(home, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["files"] >= before
    again = cli(home, "ingest", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(cli(home, "status", "--json").stdout)["files"] == 330
