"""Incremental sync on a real LanceDB store with the real embedder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from workbench.workbench import Workbench


def ingest(workbench: Workbench, path: Path | None = None, **kwargs: Any) -> dict[str, Any]:
    return workbench.ingest(path, **kwargs).as_json()


def paths_in_index(workbench: Workbench) -> set[str]:
    table = workbench.library.store.chunks.to_arrow()
    return set(table.column("path").to_pylist())


def assert_consistent(workbench: Workbench) -> None:
    """No duplicate chunk ids, no orphan chunks, file rows agree with chunk rows."""
    chunks = workbench.library.store.chunks.to_arrow()
    ids = chunks.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "duplicate chunks"
    records = workbench.library.store.file_records()
    indexed = {p: r for p, r in records.items() if r.status == "indexed"}
    per_path: dict[str, int] = {}
    for path in chunks.column("path").to_pylist():
        per_path[path] = per_path.get(path, 0) + 1
    assert per_path == {p: r.chunks for p, r in indexed.items() if r.chunks}


def test_first_ingest_then_unchanged_embeds_nothing(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    first = ingest(workbench)
    assert first["files"]["new"] == 3
    assert first["chunks"]["embedded"] >= 3
    second = ingest(workbench)
    assert second["files"] == dict.fromkeys(
        ["new", "changed", "renamed", "deleted", "failed", "skipped"], 0
    ) | {"unchanged": 3}
    assert second["chunks"] == {"embedded": 0, "reused": 0, "deleted": 0}
    assert_consistent(workbench)


def test_touch_without_change_embeds_nothing(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    ingest(workbench)
    target = library / "notes" / "travel.txt"
    os.utime(target, ns=(1, 1_000_000_000))
    report = ingest(workbench)
    assert report["files"]["unchanged"] == 3
    assert report["chunks"]["embedded"] == 0
    assert workbench.library.store.file_records()[str(target)].mtime_ns == 1_000_000_000


def test_edited_paragraph_reembeds_only_its_chunk(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    sections = [
        f"## Section {i}\n\n" + f"Paragraph {i} talks about topic {i}. " * 30 for i in range(6)
    ]
    doc = folder / "long.md"
    doc.write_text("# Doc\n\n" + "\n\n".join(sections), encoding="utf-8")
    workbench.add_folder(folder)
    first = ingest(workbench)
    total = first["chunks"]["embedded"]
    assert total >= 6
    sections[3] = sections[3].replace("topic 3", "gardening")
    doc.write_text("# Doc\n\n" + "\n\n".join(sections), encoding="utf-8")
    second = ingest(workbench)
    assert second["files"]["changed"] == 1
    assert 1 <= second["chunks"]["embedded"] <= 2
    assert second["chunks"]["reused"] == total - second["chunks"]["embedded"]
    hits = workbench.search("gardening", k=1, mode="text")
    assert hits and hits[0].locator["heading"] == "Doc > Section 3"
    assert_consistent(workbench)


def test_rename_and_move_embed_nothing(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    ingest(workbench)
    old = library / "notes" / "garden.md"
    new = library / "archive" / "garden-2024.md"
    new.parent.mkdir()
    old.rename(new)
    report = ingest(workbench)
    assert report["files"]["renamed"] == 1
    assert report["files"]["deleted"] == 0
    assert report["chunks"]["embedded"] == 0
    assert str(old) not in paths_in_index(workbench)
    hits = workbench.search("prune roses", k=1)
    assert hits[0].path == str(new)
    assert_consistent(workbench)


def test_copy_reuses_vectors(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    ingest(workbench)
    shutil.copy(library / "notes" / "garden.md", library / "garden-copy.md")
    report = ingest(workbench)
    assert report["files"]["new"] == 1
    assert report["chunks"]["embedded"] == 0
    assert report["chunks"]["reused"] >= 1


def test_delete_purges_vectors_and_full_text(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    ingest(workbench)
    assert workbench.search("Lisbon platform", k=3, mode="text")
    (library / "notes" / "travel.txt").unlink()
    report = ingest(workbench)
    assert report["files"]["deleted"] == 1
    assert report["chunks"]["deleted"] >= 1
    for mode in ("text", "vector", "hybrid"):
        hits = workbench.search("Lisbon platform train", k=10, mode=mode)
        assert all("travel" not in hit.path for hit in hits), mode
    assert_consistent(workbench)


def test_deleted_directory_is_purged(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    ingest(workbench)
    shutil.rmtree(library / "notes")
    report = ingest(workbench)
    assert report["files"]["deleted"] == 2
    assert paths_in_index(workbench) == {str(library / "code" / "fib.py")}


def test_bad_inputs_are_recorded_and_sync_goes_on(make_workbench: Any, tmp_path: Path) -> None:
    workbench = make_workbench(max_file_mb=0.01)
    folder = tmp_path / "messy"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.md").write_text("# Good\n\nThis file is fine and searchable.\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blob.dat").write_bytes(bytes(range(256)) * 40)
    (folder / "huge.txt").write_text("big " * 10_000)
    (folder / "backup.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    (folder / "dangling.txt").symlink_to(folder / "nowhere.txt")
    (folder / "sub" / "loop").symlink_to(folder)
    (folder / "self").symlink_to(folder / "self")
    os.mkfifo(folder / "pipe.txt")
    workbench.add_folder(folder)
    report = ingest(workbench)
    assert report["files"]["new"] == 1
    status = workbench.status().as_json()
    reasons = {Path(row["path"]).name: (row["status"], row["reason"]) for row in status["failed"]}
    assert reasons["empty.txt"] == ("skipped", "empty file (0 bytes)")
    assert "binary" in reasons["blob.dat"][1]
    assert "too large" in reasons["huge.txt"][1] and "max_file_mb" in reasons["huge.txt"][1]
    assert "no extractor for .zip" in reasons["backup.zip"][1]
    assert "broken symbolic link" in reasons["dangling.txt"][1]
    assert "loop" in reasons["loop"][1]
    assert "loop" in reasons["self"][1]
    assert "not a regular file" in reasons["pipe.txt"][1]
    assert status["files"] == 1
    # A second sync does not retry or re-report unchanged bad files.
    again = ingest(workbench)
    assert again["files"]["unchanged"] == report["files"]["new"] + len(status["failed"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_fails_with_reason(workbench: Workbench, library: Path) -> None:
    secret = library / "secret.txt"
    secret.write_text("hidden")
    secret.chmod(0)
    workbench.add_folder(library)
    ingest(workbench)
    failed = {row["path"]: row for row in workbench.status().as_json()["failed"]}
    assert failed[str(secret)]["status"] == "failed"
    assert "Permission denied" in failed[str(secret)]["reason"]


def test_link_to_a_sibling_folder_indexes_files_once_under_their_own_path(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    (folder / "real").mkdir(parents=True)
    (folder / "real" / "note.txt").write_text("The kiln firing schedule is on Thursdays.\n")
    (folder / "a-link").symlink_to(folder / "real")  # sorts first, walked second
    workbench.add_folder(folder)
    ingest(workbench)
    assert sorted(workbench.library.store.file_records()) == [
        str(folder / "a-link"),
        str(folder / "real" / "note.txt"),
    ]
    reason = workbench.status().as_json()["failed"][0]["reason"]
    assert (
        reason == f"symbolic link to {folder / 'real'}, a folder already indexed under its own path"
    )


def test_file_vanishing_mid_sync_is_not_indexed(workbench: Workbench, library: Path) -> None:
    victim = library / "notes" / "travel.txt"
    workbench.add_folder(library)

    def on_progress(progress: Any) -> None:
        if progress.phase == "index" and progress.path == str(garden):
            victim.unlink()  # between the scan and the read of travel.txt

    garden = library / "notes" / "garden.md"
    report = ingest(workbench, on_progress=on_progress)
    assert report["files"]["new"] == 2
    assert str(victim) not in workbench.library.store.file_records()
    assert_consistent(workbench)


def test_ingest_one_path_leaves_the_rest(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    ingest(workbench)
    (library / "code" / "fib.py").write_text("def fib():\n    return 'changed'\n")
    (library / "notes" / "travel.txt").unlink()
    report = ingest(workbench, library / "code")
    assert report["files"]["changed"] == 1
    assert report["files"]["deleted"] == 0  # notes/ was out of scope
    assert str(library / "notes" / "travel.txt") in workbench.library.store.file_records()


def test_interrupted_sync_keeps_finished_files(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    seen: list[str] = []

    def should_stop() -> bool:
        return len(seen) >= 2

    report = workbench.ingest(
        on_progress=lambda p: seen.append(p.path), should_stop=should_stop
    ).as_json()
    assert report["interrupted"] is True
    done = report["files"]["new"]
    assert 1 <= done < 3
    resumed = ingest(workbench)
    assert resumed["files"]["new"] == 3 - done
    assert resumed["files"]["unchanged"] == done
    assert_consistent(workbench)


def test_leftovers_of_a_crash_are_purged(workbench: Workbench, library: Path) -> None:
    """Chunks written without their files row (a crash in between) never survive a sync."""
    workbench.add_folder(library)
    ingest(workbench)
    clean_chunks = workbench.library.store.chunk_count()
    rows = workbench.library.store.chunk_rows(str(library / "notes" / "garden.md"))
    ghost = [dict(row, path=str(library / "ghost.md"), id="ghost" + row["id"]) for row in rows]
    workbench.library.store.add_chunks(
        rows + ghost
    )  # duplicates of a live file, and an orphan file
    report = ingest(workbench)
    assert report["files"]["unchanged"] + report["files"]["new"] == 3
    assert report["chunks"]["embedded"] == 0
    assert workbench.library.store.chunk_count() == clean_chunks
    assert_consistent(workbench)


def test_second_writer_gets_a_clear_error(workbench: Workbench, library: Path) -> None:
    from workbench.errors import StoreLockedError

    workbench.add_folder(library)
    other = Workbench(workbench.paths, workbench.settings)
    other.__dict__["embedder"] = workbench.embedder
    with workbench.library.store.writing(), pytest.raises(StoreLockedError, match="being written"):
        other.ingest(lock_timeout=0)


def test_add_remove_folder(workbench: Workbench, library: Path, tmp_path: Path) -> None:
    from workbench.errors import WorkbenchError

    workbench.add_folder(library)
    with pytest.raises(WorkbenchError, match="already in the library"):
        workbench.add_folder(library / "notes")
    with pytest.raises(WorkbenchError, match="does not exist"):
        workbench.add_folder(tmp_path / "nope")
    ingest(workbench)
    assert workbench.remove_folder(library) == 3
    assert workbench.library.store.chunk_count() == 0
    assert workbench.folders() == []


def test_extractor_version_bump_reextracts_only_that_kind(
    workbench: Workbench, library: Path
) -> None:
    workbench.add_folder(library)
    ingest(workbench)
    code = next(e for e in workbench.registry.extractors if e.name == "code")
    object.__setattr__(code, "version", "2")
    report = ingest(workbench)
    assert report["files"]["changed"] == 1  # only the code file is re-extracted
    assert report["files"]["unchanged"] == 2
    assert report["chunks"]["embedded"] == 0  # same chunk texts: vectors come from the cache
    assert (
        workbench.library.store.file_records()[str(library / "code" / "fib.py")].extractor_version
        == "2"
    )


def test_library_from_an_older_version_gains_new_columns(tmp_path: Path, embedder: Any) -> None:
    import lancedb
    import pyarrow as pa

    from workbench.core.index.store import FILES_SCHEMA, Store

    db_dir = tmp_path / "old.lancedb"
    old_schema = pa.schema([f for f in FILES_SCHEMA if f.name != "meta"])
    lancedb.connect(str(db_dir)).create_table("files", schema=old_schema)
    store = Store(db_dir, embedder.dim)
    assert "meta" in store.files.schema.names
    assert store.file_records() == {}


def test_earlier_index_versions_stay_readable(workbench: Workbench, library: Path) -> None:
    """An answer logs the index version it used; that version survives later syncs."""
    workbench.add_folder(library)
    ingest(workbench)
    version = workbench.library.store.version()
    before = workbench.library.store.chunk_count()
    (library / "notes" / "travel.txt").unlink()
    (library / "new.md").write_text("# New\n\nAdded after the version was logged.\n")
    ingest(workbench)  # deletes, adds and compacts (optimize)
    assert workbench.library.store.version() > version
    old = workbench.library.store.db.open_table("chunks")
    old.checkout(version)
    assert old.count_rows() == before
    paths = set(old.to_arrow().column("path").to_pylist())
    assert str(library / "notes" / "travel.txt") in paths


def test_two_threads_of_one_process_do_not_write_at_once(
    workbench: Workbench, library: Path
) -> None:
    """The terminal UI's watcher and "Sync now" share one Store: the lock must hold per thread."""
    import threading

    from workbench.errors import StoreLockedError

    workbench.add_folder(library)
    outcome: list[BaseException | None] = []

    def second_writer() -> None:
        try:
            workbench.ingest(lock_timeout=0)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            outcome.append(exc)

    with workbench.library.store.writing():
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join()
    assert isinstance(outcome[0], StoreLockedError)
