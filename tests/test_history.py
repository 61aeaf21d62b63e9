"""Index versions you can ask: `versions`, tags, `--as-of` search and ask, answer replay.

Everything runs on a real LanceDB library and the bundled chat model.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core.index import history
from workbench.errors import WorkbenchError
from workbench.workbench import Workbench


def _edit(path: Path, text: str) -> None:
    """Rewrite ``path`` so a sync sees it changed (size or mtime)."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:  # coarse clocks: make the change visible
        import os

        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


@pytest.fixture
def changed(workbench: Workbench, library: Path) -> tuple[Workbench, Path, int]:
    """A library synced once (version returned), then a file changed and synced again."""
    workbench.add_folder(library)
    workbench.ingest()
    first = workbench.library.store.version()
    _edit(library / "notes" / "travel.txt", "Train to Porto leaves at 09:15 from platform 5.\n")
    workbench.ingest()
    return workbench, library, first


def test_versions_list_what_each_sync_changed(changed: tuple[Workbench, Path, int]) -> None:
    workbench, library, first = changed
    rows = workbench.versions()
    assert [row.current for row in rows] == [True, False]
    latest, initial = rows
    assert initial.version == first and initial.new == 3
    assert latest.changed == 1 and latest.changes == [
        {"path": str(library / "notes" / "travel.txt"), "action": "changed"}
    ]
    every = workbench.versions(every=True)
    assert len(every) > len(rows)  # each commit of a sync is kept too


def test_as_of_search_sees_the_old_content(changed: tuple[Workbench, Path, int]) -> None:
    workbench, _library, first = changed
    now = workbench.search("train platform", k=1)
    assert "Porto" in now[0].text
    for asked in (str(first), datetime.now().astimezone().isoformat()):
        past = workbench.search("train platform", k=1, as_of=asked)
        expected = "Lisbon" if asked == str(first) else "Porto"
        assert expected in past[0].text
    workbench.tag("trip-plan", str(first))
    assert "Lisbon" in workbench.search("train platform", k=1, as_of="trip-plan")[0].text


def test_as_of_ask_answers_from_the_old_library_and_says_so(
    changed: tuple[Workbench, Path, int],
) -> None:
    workbench, _library, first = changed
    record = workbench.ask("Where does the train go, and from which platform?", as_of=str(first))
    assert record.index_version == first
    assert record.as_of is not None and record.as_of["version"] == first
    assert any("travel.txt" in s.path for s in record.sources)
    shown = " ".join(m["content"] for m in record.messages)
    assert "Lisbon" in shown and "Porto" not in shown
    logged = workbench.answer(record.id)
    assert logged.as_of == record.as_of


def test_replay_of_a_logged_answer_is_identical(changed: tuple[Workbench, Path, int]) -> None:
    workbench, library, first = changed
    record = workbench.ask("When does the train leave?")
    # The library moves on; the replay still uses the version the answer was made from.
    _edit(library / "notes" / "travel.txt", "Buses only from now on.\n")
    workbench.ingest()
    result = workbench.replay(record.id)
    assert result.outcome == "identical", result.as_json()
    assert result.replayed is not None and result.replayed.answer == record.answer
    assert result.index_version == record.index_version
    old = workbench.replay(workbench.ask("When does the train leave?", as_of=str(first)).id)
    assert old.outcome == "identical"


def test_replay_says_which_ingredient_is_gone(
    changed: tuple[Workbench, Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    workbench, _library, _first = changed
    record = workbench.ask("When does the train leave?")
    log = workbench.answerer.log
    data = record.as_json() | {"id": record.id[:-1] + "x", "index_version": 999}
    other = type(record).from_json(data)
    log.add(other)
    gone = workbench.replay(other.id)
    assert gone.outcome == "cannot_replay" and gone.missing == "index_version"
    assert "999" in gone.reason
    data = record.as_json() | {"id": record.id[:-1] + "y", "model_sha256": "0" * 64}
    log.add(type(record).from_json(data))
    missing = workbench.replay(record.id[:-1] + "y")
    assert missing.outcome == "cannot_replay" and missing.missing == "model"


def test_a_replay_that_differs_shows_the_diff(changed: tuple[Workbench, Path, int]) -> None:
    workbench, _library, _first = changed
    record = workbench.ask("When does the train leave?")
    data = record.as_json() | {"id": record.id[:-1] + "z", "answer": "It never leaves."}
    workbench.answerer.log.add(type(record).from_json(data))
    result = workbench.replay(record.id[:-1] + "z")
    assert result.outcome == "differs"
    assert "-It never leaves." in result.text_diff


def test_tags_pin_versions_past_the_history_window(make_workbench: object, library: Path) -> None:
    workbench = make_workbench(index_history_days=0)  # type: ignore[operator]
    workbench.add_folder(library)
    workbench.ingest()
    pinned = workbench.tag("first").version
    _edit(library / "notes" / "garden.md", "# Garden\n\nOnly cacti now.\n")
    workbench.ingest()  # prunes every untagged older version (history window 0)
    store = workbench.library.store
    kept = history.kept(store.chunks)
    assert pinned in kept and len(kept) == 2  # the tag and the current version
    assert "Tomatoes" in workbench.search("tomatoes", k=1, as_of="first")[0].text
    with pytest.raises(WorkbenchError, match="not kept"):
        workbench.resolve_version(str(pinned - 1))
    assert workbench.untag("first") == pinned
    with pytest.raises(WorkbenchError, match="no tag first"):
        workbench.untag("first")


def test_tag_names_and_unknown_versions_get_clear_errors(
    workbench: Workbench, library: Path
) -> None:
    workbench.add_folder(library)
    workbench.ingest()
    for bad, message in (
        ("9lives", "cannot be a tag"),
        ("a b", "cannot be a tag"),
        ("2026-01-01", "cannot be a tag"),
    ):
        with pytest.raises(WorkbenchError, match=message):
            workbench.tag(bad)
    workbench.tag("v1")
    with pytest.raises(WorkbenchError, match="already exists"):
        workbench.tag("v1")
    with pytest.raises(WorkbenchError, match="not an index version"):
        workbench.resolve_version("yesterday-ish")
    long_ago = (datetime.now() - timedelta(days=400)).isoformat()
    with pytest.raises(WorkbenchError, match="kept nothing from"):
        workbench.resolve_version(long_ago)


def test_history_stays_within_its_budget_and_keeps_tags(
    workbench: Workbench, library: Path
) -> None:
    workbench.add_folder(library)
    workbench.ingest()
    store = workbench.library.store
    store.chunks.tags.create("keep", store.version())
    for n in range(6):
        _edit(library / "notes" / "garden.md", f"# Garden\n\nRevision {n} of the garden plan.\n")
        workbench.ingest()
    total, live = history.footprint(store.chunks)
    assert total > 2 * live  # a small library's history is larger than itself
    history.within_budget([store.chunks], budget=1.0, floor=0)
    total, live = history.footprint(store.chunks)
    assert total - live <= max(live, 0) or len(history.kept(store.chunks)) <= 2
    assert "keep" in history.tags(store.chunks)
    assert "Tomatoes" in workbench.search("tomatoes", k=1, as_of="keep")[0].text


def test_cli_versions_tag_and_as_of(changed: tuple[Workbench, Path, int]) -> None:
    workbench, _library, first = changed
    runner = CliRunner()
    app = build_cli()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args), obj=workbench)
        assert result.exit_code == 0, result.output
        return result.output

    listed = json.loads(run("versions", "--json"))["versions"]
    assert listed[-1]["version"] == first and listed[-1]["files"]["new"] == 3
    assert "Tagged version" in run("tag", "before", str(first))
    found = json.loads(run("search", "train platform", "-k", "1", "--as-of", "before", "--json"))
    assert found["as_of"]["tag"] == "before" and "Lisbon" in found["results"][0]["text"]
    assert "as of version" in run("search", "train", "--as-of", "before")
    bad = runner.invoke(app, ["search", "x", "--as-of", "nonsense"], obj=workbench)
    assert bad.exit_code == 1 and "Unknown version" in bad.output
    assert "Removed tag before" in run("untag", "before")


def test_lineage_shows_where_a_file_came_from_and_went(
    changed: tuple[Workbench, Path, int],
) -> None:
    workbench, library, first = changed
    travel = library / "notes" / "travel.txt"
    workbench.tag("start", str(first))
    record = workbench.ask("When does the train to Porto leave?")
    found = workbench.lineage(travel)
    assert found.indexed is not None
    assert found.indexed["hash"] == __import__("hashlib").sha256(travel.read_bytes()).hexdigest()
    assert found.indexed["extractor"] == "text" and found.indexed["embedder"]
    assert found.chunker["chunk_tokens"] == workbench.settings.chunk_tokens
    assert [v["action"] for v in found.versions] == ["new", "changed"]
    assert found.versions[0]["version"] == first
    assert found.tags == ["start"]
    assert [a["id"] for a in found.answers] == [record.id]
    with pytest.raises(WorkbenchError, match="not in the library"):
        workbench.lineage(library / "never.txt")
    output = CliRunner().invoke(build_cli(), ["lineage", str(travel)], obj=workbench).output
    assert "extractor text" in output and f"answer {record.id}" in output


def test_prompt_batches_start_at_fixed_points() -> None:
    """Where a prompt is cut into batches depends on the prompt alone, never on the cache."""
    from workbench.backends.llama_cpp import batch_starts

    assert batch_starts(1000, 120, 512) == [0, 120, 632]
    assert batch_starts(100, 0, 512) == [0]
    assert batch_starts(100, 100, 64) == [0, 64]  # the first message is the whole prompt
