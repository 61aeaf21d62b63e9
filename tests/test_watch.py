"""A real watcher (watchdog, inotify) on real folders, feeding the real store and embedder."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.core.index import inotify
from workbench.core.index.polling import DirectoryPoller
from workbench.errors import WorkbenchError
from workbench.workbench import Workbench

TIMEOUT = 60.0


class Running:
    """A watcher running in a thread, with its events, and a way to wait on them."""

    def __init__(self, workbench: Workbench) -> None:
        self.workbench = workbench
        self.events: list[Any] = []
        self.changed = threading.Condition()
        self.watcher = workbench.watcher(on_event=self._record)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _record(self, event: Any) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:  # surfaced by wait_until / stop
            self.error = exc
            self._record(None)

    def wait_until(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        with self.changed:
            while not predicate():
                if self.error:
                    raise self.error
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"timed out waiting for {what}; events: {self.kinds()}"
                self.changed.wait(remaining)

    def kinds(self) -> list[str]:
        return [e.event for e in self.events if e is not None]

    def batches(self) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e is not None and e.event == "batch"]

    def saw(self, path: Path, action: str) -> bool:
        return any(
            change["path"] == str(path) and change["action"] == action
            for batch in self.batches()
            for change in batch["changes"]
        )

    def wait_for(self, path: Path, action: str) -> None:
        self.wait_until(lambda: self.saw(path, action), f"{action} {path}")

    def start(self) -> Running:
        self.thread.start()
        self.wait_until(lambda: "batch" in self.kinds() or self._started_empty(), "start-up sync")
        return self

    def _started_empty(self) -> bool:
        started = [e for e in self.events if e is not None and e.event == "started"]
        return bool(started) and not started[0].data["folders"]

    def stop(self) -> None:
        self.watcher.stop()
        self.thread.join(timeout=TIMEOUT)
        assert not self.thread.is_alive()
        if self.error:
            raise self.error


@pytest.fixture
def watched(workbench: Workbench, library: Path) -> Iterator[Running]:
    workbench.add_folder(library)
    running = Running(workbench).start()
    yield running
    running.stop()


def indexed_paths(workbench: Workbench) -> set[str]:
    return {p for p, r in workbench.library.store.file_records().items() if r.status == "indexed"}


def test_startup_reconciles_then_create_and_modify(watched: Running, library: Path) -> None:
    workbench = watched.workbench
    assert len(indexed_paths(workbench)) == 3  # the start-up sync indexed the existing files
    new = library / "notes" / "bread.md"
    new.write_text("# Bread\n\nSourdough needs a lively starter and a long cold proof.\n")
    watched.wait_for(new, "new")
    assert workbench.search("sourdough starter", k=1)[0].path == str(new)
    new.write_text("# Bread\n\nRye bread is dense and keeps for a week.\n")
    watched.wait_for(new, "changed")
    assert workbench.search("rye bread dense", k=1, mode="text")[0].path == str(new)
    assert workbench.search("sourdough", k=5, mode="text") == []


def test_atomic_save_is_one_change(watched: Running, library: Path) -> None:
    target = library / "notes" / "travel.txt"
    temporary = library / "notes" / ".travel.txt.swp-123"  # an editor-style temp file
    temporary.write_text("The train to Porto now leaves at 09:15.\n")
    os.replace(temporary, target)
    watched.wait_for(target, "changed")
    workbench = watched.workbench
    assert str(temporary) not in workbench.library.store.file_records()
    assert workbench.search("train to Porto", k=1)[0].path == str(target)
    assert not any(watched.saw(temporary, action) for action in ("new", "failed", "skipped"))


def test_rename_file_and_move_directory_embed_nothing(watched: Running, library: Path) -> None:
    old = library / "code" / "fib.py"
    new = library / "code" / "fibonacci.py"
    old.rename(new)
    watched.wait_for(new, "renamed")
    moved = library / "archive" / "notes"
    moved.parent.mkdir()
    shutil.move(library / "notes", moved)
    # inotify may report a move into a just-created folder as delete + create; either way
    # the chunks keep their vectors (cache by text hash) and nothing is embedded again.
    for name in ("garden.md", "travel.txt"):
        watched.wait_until(
            lambda n=name: watched.saw(moved / n, "renamed") or watched.saw(moved / n, "new"),
            f"{name} at its new place",
        )
    watched.wait_until(
        lambda: str(library / "notes" / "garden.md") not in indexed_paths(watched.workbench),
        "old paths purged",
    )
    assert sum(b["chunks"]["embedded"] for b in watched.batches()[1:]) == 0
    assert indexed_paths(watched.workbench) == {
        str(new),
        str(moved / "garden.md"),
        str(moved / "travel.txt"),
    }


def test_delete_file_and_directory(watched: Running, library: Path) -> None:
    (library / "code" / "fib.py").unlink()
    watched.wait_for(library / "code" / "fib.py", "deleted")
    shutil.rmtree(library / "notes")
    watched.wait_for(library / "notes" / "garden.md", "deleted")
    watched.wait_for(library / "notes" / "travel.txt", "deleted")
    assert indexed_paths(watched.workbench) == set()
    assert watched.workbench.search("prune roses", k=5) == []


def test_ignore_rules(watched: Running, library: Path) -> None:
    for junk in ("node_modules/pkg/index.js", ".git/config", "build/out.txt", ".venv/lib/x.py"):
        (library / junk).parent.mkdir(parents=True, exist_ok=True)
        (library / junk).write_text("ignored content zebra\n")
    (library / "notes" / "draft.md~").write_text("zebra backup\n")
    (library / "notes" / ".draft.md.swp").write_text("zebra swap\n")
    (library / ".gitignore").write_text("build/\n*.secret\n")
    (library / "notes" / "keys.secret").write_text("zebra secret\n")
    marker = library / "notes" / "zebra.md"
    marker.write_text("# Zebra\n\nA real note about a zebra.\n")
    watched.wait_for(marker, "new")
    assert {Path(p).name for p in indexed_paths(watched.workbench)} == {
        "garden.md",
        "travel.txt",
        "fib.py",
        "zebra.md",
        ".gitignore",
    }
    # Ignoring an indexed file through .gitignore purges it.
    (library / ".gitignore").write_text("build/\n*.secret\n*.py\n")
    watched.wait_for(library / "code" / "fib.py", "deleted")


def test_restart_reconciles_changes_made_while_stopped(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    first = Running(workbench).start()
    first.stop()
    (library / "notes" / "travel.txt").unlink()
    (library / "code" / "fib.py").write_text("def fib():\n    return 'memoized'\n")
    (library / "new.txt").write_text("Written while nobody watched.\n")
    second = Running(workbench).start()
    try:
        startup = second.batches()[0]
        assert startup["trigger"] == "startup"
        assert startup["files"]["new"] == 1
        assert startup["files"]["changed"] == 1
        assert startup["files"]["deleted"] == 1
    finally:
        second.stop()


def test_burst_of_2000_files_is_batched_and_searchable_meanwhile(
    watched: Running, tmp_path: Path, library: Path
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(2000):
        (staging / f"item-{i:04d}.txt").write_text(f"Inventory item {i} stored in bay {i % 37}.\n")
    shutil.move(staging, library / "burst")  # appears at once, like a checkout or unzip
    target = library / "burst" / "item-1999.txt"
    searches = 0
    deadline = time.monotonic() + TIMEOUT * 3
    while not watched.saw(target, "new"):
        assert time.monotonic() < deadline, "burst not indexed in time"
        watched.workbench.search("inventory bay", k=3)  # reads work while the watcher writes
        searches += 1
    records = watched.workbench.library.store.file_records()
    assert sum(p.startswith(str(library / "burst")) for p in records) == 2000
    burst_batches = [b for b in watched.batches()[1:] if b["files"]["new"]]
    assert len(burst_batches) <= 10
    assert searches >= 1


def test_folder_missing_keeps_index_and_comes_back(watched: Running, library: Path) -> None:
    away = library.parent / "unplugged"
    library.rename(away)
    watched.wait_until(lambda: "folder_missing" in watched.kinds(), "folder_missing")
    assert len(indexed_paths(watched.workbench)) == 3  # nothing purged
    (away / "notes" / "while-away.txt").write_text("Added while the drive was unplugged.\n")
    away.rename(library)
    watched.wait_until(lambda: "folder_back" in watched.kinds(), "folder_back")
    watched.wait_for(library / "notes" / "while-away.txt", "new")


def make_drive(root: Path) -> dict[str, str]:
    """Twenty small notes in three subfolders, like a USB stick; returns path -> text."""
    notes = {}
    for i in range(20):
        path = root / f"box{i % 3}" / f"note{i:02d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        notes[str(path)] = f"Note {i} lists item {i} of the inventory: widget number {i}.\n"
        path.write_text(notes[str(path)])
    return notes


def test_deleted_folder_keeps_its_index_and_is_reconciled_when_back(
    make_workbench: Callable[..., Workbench], tmp_path: Path
) -> None:
    drive = tmp_path / "drive"
    notes = make_drive(drive)
    workbench = make_workbench()
    workbench.add_folder(drive)
    running = Running(workbench)
    # Folder checks stay out of the way, so only the delete events (and whatever the watcher
    # makes of them) decide what happens to the index.
    running.watcher.poll_folders_s = 3600.0
    running.start()
    shutil.rmtree(drive)
    running.wait_until(
        lambda: "folder_missing" in running.kinds() or len(running.batches()) > 1,
        "the folder reported missing (or its files purged)",
    )
    purged = [
        c["path"] for b in running.batches() for c in b["changes"] if c["action"] == "deleted"
    ]
    assert purged == [], "the files of a vanished folder were purged"
    missing = next(e for e in running.events if e is not None and e.event == "folder_missing")
    assert "kept its index" in missing.data["message"]
    assert indexed_paths(workbench) == set(notes)
    assert workbench.search("widget number 7", k=1, mode="text")[0].path.endswith("note07.txt")
    # A sync of everything while it is away keeps its index too.
    assert workbench.ingest().deleted == 0
    assert indexed_paths(workbench) == set(notes)

    # It comes back changed: one note edited, one gone, one new; the rest as they were.
    edited, dropped = drive / "box1" / "note01.txt", drive / "box2" / "note02.txt"
    for path, text in notes.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if path != str(dropped):
            Path(path).write_text(text)
    edited.write_text("Note 1 now says the widget was sold.\n")
    added = drive / "box0" / "extra.txt"
    added.write_text("An extra note written while the drive was away.\n")
    running.watcher.poll_folders_s = 0.1
    running.wait_until(lambda: "folder_back" in running.kinds(), "folder_back")
    running.wait_for(added, "new")
    try:
        back = running.batches()[-1]
        assert back["trigger"] == "folder_back"
        assert {c["path"]: c["action"] for c in back["changes"]} == {
            str(edited): "changed",
            str(dropped): "deleted",
            str(added): "new",
        }
        assert indexed_paths(workbench) == (set(notes) - {str(dropped)}) | {str(added)}
    finally:
        running.stop()


def test_syncer_keeps_the_index_of_a_missing_folder(workbench: Workbench, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    notes = make_drive(drive)
    workbench.add_folder(drive)
    workbench.ingest()
    shutil.rmtree(drive)
    report = workbench.library.syncer.sync(workbench.folders())
    assert report.deleted == 0
    assert indexed_paths(workbench) == set(notes)


def test_deleted_subfolder_of_a_present_folder_is_purged(watched: Running, library: Path) -> None:
    shutil.rmtree(library / "notes")
    watched.wait_for(library / "notes" / "garden.md", "deleted")
    assert "folder_missing" not in watched.kinds()
    assert indexed_paths(watched.workbench) == {str(library / "code" / "fib.py")}


MAX_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")


def can_lower_watch_limit() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        MAX_WATCHES.write_text(MAX_WATCHES.read_text())
    except OSError:
        return False
    return True


def inotify_watches_in_use() -> int:
    """The inotify watches this user's processes hold: what the kernel counts against the limit."""
    total = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if fd_dir.stat().st_uid != os.getuid():
                continue
            fds = list(fd_dir.iterdir())
        except OSError:
            continue  # the process ended
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(fd) == "anon_inode:inotify":
                    total += (fd_dir.parent / "fdinfo" / fd.name).read_text().count("inotify wd:")
    return total


@contextlib.contextmanager
def lowered_watch_limit(value: int) -> Iterator[None]:
    """fs.inotify.max_user_watches lowered to ``value`` for this block only (it is machine-wide)."""
    original = MAX_WATCHES.read_text()
    MAX_WATCHES.write_text(f"{value}\n")
    try:
        yield
    finally:
        MAX_WATCHES.write_text(original)


def test_watch_limit_reached_polls_the_unwatched_folders_and_says_how_to_fix(
    make_workbench: Callable[..., Workbench], tmp_path: Path
) -> None:
    if not can_lower_watch_limit():
        pytest.skip("lowering fs.inotify.max_user_watches needs root and a writable /proc/sys")
    big = tmp_path / "big"
    boxes = [big / f"box{i:03d}" for i in range(200)]
    for box in boxes:
        box.mkdir(parents=True)
    (boxes[0] / "first.txt").write_text("The first note, indexed at start-up.\n")
    other = tmp_path / "other"  # added second: its own watch is refused
    other.mkdir()
    workbench = make_workbench()
    workbench.add_folder(big)
    workbench.add_folder(other)
    running = Running(workbench)
    running.watcher.poll_unwatched_s = 0.5
    # 20 watches to spare: "big" and 19 of its folders get one, the other 181 and "other" do not.
    with lowered_watch_limit(inotify_watches_in_use() + 20):
        running.thread.start()
        running.wait_until(lambda: bool({"warning", "batch"} & set(running.kinds())), "start-up")
    running.wait_until(lambda: "batch" in running.kinds(), "start-up sync")
    try:
        warnings = [e.data for e in running.events if e is not None and e.event == "warning"]
        assert warnings, f"no warning about the unwatched folders; events: {running.kinds()}"
        warning = warnings[0]
        assert warning["reason"] == "inotify_limit"
        assert warning["folders"] == [str(big), str(other)]
        assert warning["unwatched"] >= 182
        assert "could not be watched" in warning["message"]
        assert "polled" in warning["message"]
        assert "sudo sysctl fs.inotify.max_user_watches=524288" in warning["message"]
        assert "/etc/sysctl.d/" in warning["message"]
        assert "folder_missing" not in running.kinds()  # "other" is there, only unwatched

        # Every change is caught, watched folder or not: a new note in each of the 200...
        watched = inotify.watched_inodes() or set()
        unwatched = [b for b in boxes if (b.stat().st_dev, b.stat().st_ino) not in watched]
        assert len(unwatched) >= 181
        notes = [box / "note.txt" for box in boxes] + [other / "note.txt"]
        for i, note in enumerate(notes):
            note.write_text(f"Shelf {i} holds jar number {i}.\n")
        for note in notes:
            running.wait_for(note, "new")
        # ...an edit, a delete and a new subfolder where no watch is.
        (boxes[0] / "first.txt").unlink()
        edited = unwatched[-1] / "note.txt"
        edited.write_text("This jar was moved to the cellar.\n")
        deep = unwatched[-2] / "sub" / "deeper" / "deep.txt"
        deep.parent.mkdir(parents=True)
        deep.write_text("A note two new folders down.\n")
        running.wait_for(boxes[0] / "first.txt", "deleted")
        running.wait_for(edited, "changed")
        running.wait_for(deep, "new")
        assert workbench.search("jar moved to the cellar", k=1)[0].path == str(edited)
    finally:
        running.stop()


def limit_warning() -> Any:
    from workbench.core.index.watcher import WatchEvent

    message = inotify.limit_message("max_user_watches", 182, 202, 2.0)
    return WatchEvent("warning", {"reason": "inotify_limit", "message": message})


def test_cli_prints_the_limit_warning_with_its_fix(capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli.watch import _human_line

    _human_line(limit_warning())
    printed = capsys.readouterr().err  # on one line: the commands stay whole, to copy
    assert "Warning: 182 of 202 folders could not be watched" in printed
    assert "`sudo sysctl fs.inotify.max_user_watches=524288`" in printed
    assert "/etc/sysctl.d/60-inotify.conf" in printed


async def test_ui_shows_the_limit_warning(workbench: Workbench) -> None:
    from workbench.tui.app import make_app
    from workbench.tui.messages import WatchEventReceived

    app = make_app(workbench, watch=False, first_run=False)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        app.post_message(WatchEventReceived(limit_warning()))
        deadline = time.monotonic() + TIMEOUT
        while not any(n.severity == "warning" for n in app._notifications):
            assert time.monotonic() < deadline, "no warning notification"
            await pilot.pause(0.05)
        shown = [n for n in app._notifications if n.severity == "warning"]
        assert len(shown) == 1
        assert "sudo sysctl fs.inotify.max_user_watches=524288" in shown[0].message
        assert any("could not be watched" in str(line) for line in app.activity)


def test_poller_reports_what_changed_since_the_last_poll(tmp_path: Path) -> None:
    root = tmp_path / "unwatched"
    (root / "keep").mkdir(parents=True)
    (root / "keep" / "same.txt").write_text("unchanged\n")
    (root / "keep" / "edit.txt").write_text("short\n")
    (root / "keep" / "gone.txt").write_text("to be deleted\n")
    (root / "node_modules").mkdir()
    poller = DirectoryPoller(skip=lambda path, is_dir: Path(path).name == "node_modules")
    poller.add(str(root))
    assert poller.poll() == []  # what was there when polling began is no change
    (root / "keep" / "edit.txt").write_text("a longer text than before\n")
    (root / "keep" / "gone.txt").unlink()
    (root / "new" / "inner").mkdir(parents=True)
    (root / "new" / "inner" / "n.txt").write_text("new\n")
    (root / "node_modules" / "x.js").write_text("ignored\n")
    assert poller.poll() == [
        (str(root / "keep" / "edit.txt"), False),
        (str(root / "keep" / "gone.txt"), False),
        (str(root / "new"), True),
        (str(root / "new" / "inner"), True),
        (str(root / "new" / "inner" / "n.txt"), False),
    ]
    assert poller.poll() == []
    shutil.rmtree(root / "new")
    assert poller.poll() == [
        (str(root / "new"), True),
        (str(root / "new" / "inner"), True),
        (str(root / "new" / "inner" / "n.txt"), False),
    ]
    assert poller.covers(str(root / "keep" / "same.txt"))
    poller.drop(str(root))
    assert poller.roots == []
    assert not poller.covers(str(root / "keep"))


def test_folder_added_while_watching(watched: Running, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "late.md").write_text("# Late\n\nA folder added while watching.\n")
    Workbench(watched.workbench.paths, watched.workbench.settings).add_folder(other)
    watched.wait_for(other / "late.md", "new")
    (other / "later.md").write_text("# Later\n\nAnd a file in it afterwards.\n")
    watched.wait_for(other / "later.md", "new")


def test_second_watcher_is_refused(watched: Running) -> None:
    with pytest.raises(WorkbenchError, match="already being watched"):
        watched.workbench.watcher().run()


@pytest.mark.slow
def test_cli_watch_json_and_sigterm(library: Path, workbench_home: Path) -> None:
    exe = Path(sys.executable).parent / "workbench"
    env = dict(os.environ, WORKBENCH_HOME=str(workbench_home))
    subprocess.run([str(exe), "add", str(library)], env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [str(exe), "watch", "--json"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if '"trigger": "startup"' in line:
            break
    note = library / "live.md"
    note.write_text("# Live\n\nSaved while watch runs.\n")
    for line in process.stdout:
        lines.append(line)
        if str(note) in line:
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0
    import json

    events = [json.loads(line) for line in [*lines, *rest.splitlines()]]
    assert [e["event"] for e in events][0] == "started"
    batch = next(e for e in events if e["event"] == "batch" and str(note) in e["paths"])
    assert batch["changes"] == [{"path": str(note), "action": "new"}]
    assert isinstance(batch["seconds"], float)
    assert events[-1]["event"] == "stopped"


def test_ingest_hands_off_with_a_running_watcher(watched: Running, library: Path) -> None:
    other = Workbench(watched.workbench.paths, watched.workbench.settings)
    other.__dict__["embedder"] = watched.workbench.embedder
    (library / "handoff.txt").write_text("Written just before a manual ingest.\n")
    report = other.ingest()  # waits for the watcher's batch if one is in flight
    assert not report.interrupted
    assert str(library / "handoff.txt") in indexed_paths(watched.workbench)


def test_index_compaction_waits_for_idle_time(workbench: Workbench, library: Path) -> None:
    workbench.add_folder(library)
    workbench.ingest()  # builds the full-text index
    running = Running(workbench)
    running.watcher.idle_optimize_s = 0.5
    running.start()
    try:
        note = library / "idle.md"
        note.write_text("# Idle\n\nIndexed now, compacted when the folder is quiet.\n")
        running.wait_for(note, "new")
        chunks = workbench.library.store.chunks
        assert chunks.index_stats("text_idx").num_unindexed_rows > 0  # searchable already
        assert workbench.search("compacted quiet", k=1, mode="text")[0].path == str(note)
        running.wait_until(lambda: "optimized" in running.kinds(), "idle optimize")
        assert chunks.index_stats("text_idx").num_unindexed_rows == 0
    finally:
        running.stop()
