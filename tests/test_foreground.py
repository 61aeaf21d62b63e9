"""Interactive work first: syncs park while answers and searches run, and the chat model's and
the embedder's threads never outnumber the cores.

Behaviour, not timing: threads hand over through events and ``settle`` (which returns once
background work has parked); no sleeps, no timed asserts. Timeouts only keep a broken build
from hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from workbench.config import Settings
from workbench.core import foreground as fg
from workbench.core.index.batching import Batch, BatchWriter
from workbench.core.index.chunking import Chunk
from workbench.core.index.sync import SyncProgress, SyncReport
from workbench.errors import WorkbenchError

HANG = 120  # seconds before a broken hand-over fails the test instead of hanging it


def _notes(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for number in range(count):
        (folder / f"note{number:03}.md").write_text(
            f"# Note {number}\n\nMeeting {number} decided to move the archive to shelf "
            f"{number * 7 % 31} and to review budget line {number} next quarter.\n",
            encoding="utf-8",
        )
    return folder


def _in_thread(target: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["result"] = target()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_sync_parks_between_files_while_foreground_work_runs_then_resumes(
    make_workbench: Any, tmp_path: Path
) -> None:
    workbench = make_workbench()
    _notes(tmp_path / "library" / "old", 2)
    workbench.add_folder(tmp_path / "library")
    workbench.ingest()  # something to search while the next sync runs
    folder = _notes(tmp_path / "library" / "new", 12)
    reached, go = threading.Event(), threading.Event()
    indexed: list[int] = []

    def on_progress(progress: SyncProgress) -> None:
        if progress.phase == "index" and progress.done < progress.total:
            indexed.append(progress.done)
            if len(indexed) == 1:
                reached.set()
                assert go.wait(HANG)

    thread, outcome = _in_thread(lambda: workbench.ingest(folder, on_progress=on_progress))
    assert reached.wait(HANG)
    with fg.foreground("test"):
        go.set()
        assert fg.settle(HANG), "the sync never reached its yield point"
        held_at = list(indexed)
        hits = workbench.search("archive shelf")  # real foreground work while it is parked
        assert indexed == held_at == [0], "the sync went on while foreground work ran"
    thread.join(HANG)
    report = outcome["result"]
    assert hits and report.new == 12 and not report.interrupted
    assert indexed == list(range(12)), "the sync did not resume where it stopped"


def _writer_with_batch(workbench: Any, count: int) -> tuple[BatchWriter, Batch]:
    writer = BatchWriter(workbench.library.store, workbench.embedder, workbench.settings)
    texts = [
        f"Entry {n} of the lighthouse keeper's log: wind {n * 13} knots." for n in range(count)
    ]
    return writer, Batch(unembedded=[Chunk(ordinal=0, text=t, locator={}) for t in texts])


def test_embedding_waits_for_foreground_work_before_its_next_batch(make_workbench: Any) -> None:
    workbench = make_workbench(embed_batch_size=4)
    writer, batch = _writer_with_batch(workbench, 10)
    report = SyncReport()
    with writer.yielding(lambda: False) as background:
        assert background is not None
        with fg.foreground("test"):
            thread, _ = _in_thread(lambda: writer.embed(batch, report))
            assert fg.settle(HANG)
            assert (background.state, background.pauses) == (fg.PARKED, 1)
            assert not batch.vectors and report.embedded == 0
        thread.join(HANG)
    assert not thread.is_alive()
    assert report.embedded == 10 and len(batch.vectors) == 10
    assert background.pauses == 1  # three batches of 4, 4 and 2: no pause once it was free


def test_a_sync_switched_off_never_pauses(make_workbench: Any, tmp_path: Path) -> None:
    workbench = make_workbench(sync_max_pause_s=0)
    workbench.add_folder(_notes(tmp_path / "notes", 3))
    with fg.foreground("test"):  # same thread: a pause here would never end
        report = workbench.ingest()
    assert report.new == 3


def test_the_cap_gives_a_starved_sync_a_turn_with_fewer_threads() -> None:
    cores = fg.cpu_cores()
    background = fg.Background(threads=cores, max_pause_s=0.001, turn_s=3600)
    with background, fg.foreground("a very long answer"):
        assert background.wait_for_turn() is True
        assert (background.state, background.turns) == (fg.TURN, 1)
        assert background.threads == max(1, cores // 2)
        assert background.wait_for_turn() is False  # still its turn: no pause
        background._free_until = 0.0  # the turn is over
        assert background.wait_for_turn() is True
        assert background.turns == 2
    assert fg.free_threads(cores) == cores


def test_stopping_wakes_a_parked_sync() -> None:
    stop = threading.Event()
    background = fg.Background(threads=1, max_pause_s=3600)
    with background, fg.foreground("test"):
        thread, outcome = _in_thread(lambda: background.wait_for_turn(stop.is_set))
        assert fg.settle(HANG)
        stop.set()
        thread.join(HANG)
        assert outcome["result"] is True and background.state == fg.WORKING


@pytest.mark.skipif(fg.cpu_cores() < 2, reason="one core: a starved turn shares it")
def test_threads_never_outnumber_the_cores() -> None:
    cores = fg.cpu_cores()
    assert fg.chat_threads(0) == cores and fg.chat_threads(10_000) == cores
    assert fg.embed_threads(0) == min(4, cores) and fg.embed_threads(10_000) == cores
    ceiling = fg.chat_threads(0)
    starved = fg.Background(threads=fg.embed_threads(0), max_pause_s=0.001, turn_s=3600)
    with starved, fg.foreground("ask"):
        starved.wait_for_turn()  # parks, then the cap gives it a turn with fewer threads
        assert starved.state == fg.TURN
        assert fg.free_threads(ceiling) + starved.claim <= cores
    parked = fg.Background(threads=fg.embed_threads(0), max_pause_s=3600)
    with parked, fg.foreground("ask"):
        thread, _ = _in_thread(parked.wait_for_turn)
        assert fg.settle(HANG) and parked.state == fg.PARKED
        assert fg.free_threads(ceiling) == ceiling  # every core to the chat model
    thread.join(HANG)


def test_back_to_back_foreground_work_cannot_starve_a_sync() -> None:
    stepped = threading.Event()
    sync = fg.Background(threads=1, max_pause_s=3600)

    def steps() -> None:
        sync.wait_for_turn()
        stepped.set()

    with sync:
        with fg.foreground("search 1"):
            thread, _ = _in_thread(steps)
            assert fg.settle(HANG) and sync.state == fg.PARKED
        with fg.foreground("search 2"):  # the next search, before the sync even woke
            assert stepped.wait(HANG), "a stream of searches held the sync"
        thread.join(HANG)
    assert sync.pauses == 1 and sync.turns == 0


@pytest.mark.slow
@pytest.mark.skipif(fg.cpu_cores() < 2, reason="one core: a starved turn shares it")
def test_the_chat_model_runs_on_the_cores_a_starved_sync_leaves(workbench: Any) -> None:
    from workbench.core.answering.chat import ChatParams

    model = workbench.chat_model()
    cores = fg.cpu_cores()
    seen: list[int] = []
    prompt = [{"role": "user", "content": "Count from one to twenty."}]
    params = ChatParams(max_tokens=12, temperature=0.0)
    sync = fg.Background(threads=fg.embed_threads(0), max_pause_s=0.001, turn_s=3600)
    with sync, fg.foreground("ask"):
        sync.wait_for_turn()
        model.chat(prompt, params, on_token=lambda _: seen.append(model.threads_now))
        assert seen and all(threads + sync.claim <= cores for threads in seen)
    model.chat(prompt, params)  # the sync is gone: every core again
    assert model.threads_now == model.threads == cores


def test_another_process_asking_pauses_this_processes_sync(tmp_path: Path) -> None:
    signal = fg.signal_file(tmp_path / "write.lock")
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys; from pathlib import Path; from workbench.core.foreground import "
            "foreground\nwith foreground('ask', Path(sys.argv[1])):\n"
            "    print('held', flush=True); sys.stdin.readline()",
            str(signal),
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        with fg.Background(threads=1, max_pause_s=3600, signal=signal) as sync:
            thread, outcome = _in_thread(sync.wait_for_turn)
            assert fg.settle(HANG) and sync.state == fg.PARKED
            holder.stdin.write("done\n")
            holder.stdin.flush()
            thread.join(HANG)
            assert outcome["result"] is True and sync.state == fg.WORKING
    finally:
        holder.kill()
        holder.wait()


def test_foreground_work_without_a_data_dir_still_runs(tmp_path: Path) -> None:
    with fg.foreground("search", tmp_path / "missing" / "foreground.lock"):
        assert fg.active() == ["search"]
    assert fg.active() == []


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("WORKBENCH_EMBED_THREADS", "-1", "embed_threads must be 0"),
        ("WORKBENCH_EMBED_THREADS", "two", "is not a whole number"),
        ("WORKBENCH_SYNC_MAX_PAUSE_S", "-5", "sync_max_pause_s must be 0 or more"),
    ],
)
def test_new_settings_are_checked(tmp_path: Path, variable: str, value: str, words: str) -> None:
    with pytest.raises(WorkbenchError, match=words):
        Settings.load(tmp_path / "config.toml", {variable: value})
    settings = Settings.load(tmp_path / "config.toml", {variable: "2"})
    assert getattr(settings, variable.removeprefix("WORKBENCH_").lower()) == 2
