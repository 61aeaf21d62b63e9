"""`workbench forget`: the content gone from the index, every kept version and tag, the caches
and the logs, checked here independently of forget's own verification."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core.index import history
from workbench.core.index.schema import table_names
from workbench.errors import WorkbenchError
from workbench.workbench import Workbench

MARKER = "Zanzibar-Quokka-4417"


def leftovers(home: Path, needles: list[str]) -> list[str]:
    """Every place under ``home`` any needle is still found: each version of each table
    (read through LanceDB) and the raw bytes of every file."""
    found = []
    db = lancedb.connect(str(home / "data" / "library.lancedb"))
    for name in table_names(db):
        table = db.open_table(name)
        for version in [v["version"] for v in table.list_versions()]:
            table.checkout(version)
            rows = table.to_arrow()
            for column in rows.column_names:
                values = rows.column(column)
                if not pa.types.is_string(values.type):
                    continue
                for needle in needles:
                    hits = pc.match_substring(values, needle, ignore_case=True)
                    if pc.any(pc.fill_null(hits, False)).as_py():
                        found.append(f"{name}@{version}.{column}: {needle}")
    for folder, _dirs, files in os.walk(home):
        for name in files:
            data = (Path(folder) / name).read_bytes().lower()
            found += [f"{folder}/{name}: {n}" for n in needles if n.lower().encode() in data]
    return found


@pytest.fixture
def secret_library(workbench: Workbench, library: Path) -> tuple[Workbench, Path, Path]:
    """A library with a file holding MARKER, indexed, changed, tagged and asked about."""
    secret = library / "notes" / "secret.md"
    secret.write_text(f"# Passwords\n\nThe vault code is {MARKER}, kept in the attic.\n")
    workbench.add_folder(library)
    workbench.ingest()
    workbench.tag("with-secret")
    secret.write_text(f"# Passwords\n\nThe vault code {MARKER} moved to the cellar.\n")
    workbench.ingest()
    workbench.ask("Where is the vault code kept?")
    workbench.tag("later")
    return workbench, library, secret


def test_forget_leaves_no_trace_in_any_version_tag_cache_or_log(
    secret_library: tuple[Workbench, Path, Path], workbench_home: Path
) -> None:
    workbench, library, secret = secret_library
    garden = str(library / "notes" / "garden.md")
    assert leftovers(workbench_home, [MARKER])  # it is there before

    result = workbench.forget(secret, match=MARKER)

    assert result.paths == [str(secret)] and result.verified
    receipt = result.receipt
    assert receipt["verification"]["matches"] == [] and receipt["removed"]["answers"] == 1
    assert sorted(receipt["removed"]["tags_rewritten"]) == ["later", "with-secret"]
    assert leftovers(workbench_home, [MARKER, str(secret)]) == []
    # Other files' tags still check out, and hold what they held.
    for tag in ("with-secret", "later"):
        hits = workbench.search("tomatoes deeply", k=1, as_of=tag)
        assert hits[0].path == garden
        assert all(hit.path != str(secret) for hit in workbench.search("vault", k=10, as_of=tag))
    # The answer that used it keeps its question and says a source was forgotten.
    logged = workbench.answer(workbench.answers()[0].id)
    assert logged.question == "Where is the vault code kept?"
    assert logged.forgotten is not None and logged.answer == "" and logged.messages == []
    assert workbench.replay(logged.id).missing == "forgotten_source"
    # The receipt is kept in the library, with digests, never the path.
    kept = workbench.paths.data_dir / "deletions" / f"{receipt['id']}.json"
    assert json.loads(kept.read_text())["verification"]["passed"] is True
    assert str(secret) not in kept.read_text()


def test_a_forgotten_file_still_on_disk_is_not_indexed_again_until_unforgotten(
    secret_library: tuple[Workbench, Path, Path],
) -> None:
    workbench, library, secret = secret_library
    workbench.forget(secret)
    assert workbench.ingest().new == 0
    assert all(hit.path != str(secret) for hit in workbench.search("vault code", k=10))
    states = {s.path: s for s in workbench.file_states(str(library))}
    assert states[str(secret)].status == "skipped" and "forgotten" in states[str(secret)].reason
    with pytest.raises(WorkbenchError, match="already forgotten"):
        workbench.forget(secret)
    assert workbench.unforget(secret) and not workbench.unforget(secret)
    assert workbench.ingest().new == 1


def test_forget_a_folder_with_match_takes_only_the_files_holding_it(
    secret_library: tuple[Workbench, Path, Path],
) -> None:
    workbench, library, secret = secret_library
    result = workbench.forget(library, match=MARKER.lower())
    assert result.paths == [str(secret)]
    assert library.as_posix() in workbench.folders()  # only files matched: the folder stays
    indexed = {hit.path for hit in workbench.search("garden train fibonacci", k=10)}
    assert str(library / "notes" / "travel.txt") in indexed


def test_forget_a_whole_library_folder_removes_it(
    secret_library: tuple[Workbench, Path, Path], workbench_home: Path
) -> None:
    workbench, library, _secret = secret_library
    result = workbench.forget(library)
    assert len(result.paths) == 4 and result.receipt["removed"]["folders"] is True
    assert workbench.folders() == []
    assert leftovers(workbench_home, [MARKER, "Lisbon", "fibonacci"]) == []
    store = workbench.library.store
    assert store.chunk_count() == 0
    assert set(history.tags(store.chunks)) == {"with-secret", "later"}


def test_nothing_to_forget_is_a_clear_error(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    workbench.ingest()
    with pytest.raises(WorkbenchError, match="Nothing containing 'no such text'"):
        workbench.forget(library, match="no such text")
    with pytest.raises(WorkbenchError, match="Nothing at"):
        workbench.forget(library / "nowhere.md")
    with pytest.raises(WorkbenchError, match="--match is empty"):
        workbench.forget(library, match="  ")  # an unset shell variable must not forget all
    assert workbench.folders() == [str(library)]


def test_forget_removes_thumbnails_and_unused_cached_vectors(
    workbench: Workbench, library: Path, workbench_home: Path
) -> None:
    from PIL import Image

    photo = library / "photo.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo)
    workbench.add_folder(library)
    workbench.ingest()
    thumbnails = list((workbench_home / "cache" / "thumbnails").glob("*.jpg"))
    assert len(thumbnails) == 1
    cached = workbench.library.store.embeddings.count_rows()
    result = workbench.forget(photo)
    assert result.receipt["removed"]["thumbnails"] == 1 and not thumbnails[0].exists()
    assert workbench.library.store.embeddings.count_rows() < cached


def test_cli_forget_json_and_confirmation(
    secret_library: tuple[Workbench, Path, Path],
) -> None:
    workbench, _library, secret = secret_library
    runner = CliRunner()
    app = build_cli()
    result = runner.invoke(app, ["forget", str(secret), "--match", MARKER, "--json"], obj=workbench)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    assert data["paths"] == [str(secret)] and data["verification"]["passed"] is True
    again = runner.invoke(app, ["forget", str(secret), "--yes"], obj=workbench)
    assert again.exit_code == 1 and "Already forgotten" in again.output


def test_repair_keeps_forgotten_files_out(secret_library: tuple[Workbench, Path, Path]) -> None:
    workbench, _library, secret = secret_library
    workbench.forget(secret)
    result = workbench.repair()  # rebuilds the index from the folders
    assert result.sync is not None and result.sync.new == 3
    assert all(hit.path != str(secret) for hit in workbench.search("vault code", k=10))


def test_a_forget_cut_short_finishes_when_run_again(
    secret_library: tuple[Workbench, Path, Path],
    workbench_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workbench.core import forgetting

    workbench, _library, secret = secret_library

    def killed(*args: Any, **kwargs: Any) -> int:
        raise KeyboardInterrupt  # the process dies after the index was rewritten

    monkeypatch.setattr(forgetting, "_redact_log_table", killed)
    with pytest.raises(KeyboardInterrupt):
        workbench.forget(secret)
    monkeypatch.undo()
    assert leftovers(workbench_home, [MARKER])  # the answer log still has it
    result = workbench.forget(secret)  # found again through the answer log
    assert result.paths == [str(secret)] and result.receipt["removed"]["answers"] == 1
    assert leftovers(workbench_home, [MARKER, str(secret)]) == []
