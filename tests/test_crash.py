"""kill -9 in the middle of an ingest, run it again: the index equals a clean ingest's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workbench.paths import resolve_paths
from workbench.workbench import Workbench

pytestmark = pytest.mark.slow

# An extractor that kills its own process with SIGKILL while the crash run is on: the sync
# dies after earlier batches committed and with a later batch half-built.
BOOM_PLUGIN = """
import os, signal
from workbench.core.extraction.documents import Block, Extraction
from workbench.hookspecs import hookimpl

class Boom:
    name = "boom"
    version = "1"
    suffixes = frozenset({".boom"})
    filenames = frozenset()

    def extract(self, path, data):
        if os.environ.get("BOOM") == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        return Extraction("boom", [Block(data.decode(), 1, 1)])

@hookimpl
def register_extractors(register):
    register(Boom())
"""


def make_library(root: Path, files: int = 300) -> None:
    root.mkdir()
    for i in range(files):
        (root / f"note-{i:04d}.txt").write_text(
            f"Note {i}: the {i}th observation of bird {i * 7}.\n"
        )
    (root / "note-0280.boom").write_text("the detonator file")


def snapshot(home: Path, embedder: Any) -> dict[str, Any]:
    workbench = Workbench(resolve_paths(home))
    workbench.__dict__["embedder"] = embedder
    chunks = workbench.library.store.chunks.to_arrow()
    ids = chunks.column("id").to_pylist()
    records = workbench.library.store.file_records()
    return {
        "files": sorted((Path(p).name, r.status, r.chunks) for p, r in records.items()),
        "chunks": len(ids),
        "unique_ids": len(set(ids)),
        "paths": sorted({Path(p).name for p in chunks.column("path").to_pylist()}),
    }


def cli(home: Path, plugins: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).parent / "workbench"
    environment = dict(
        os.environ, WORKBENCH_HOME=str(home), WORKBENCH_PLUGINS_DIR=str(plugins), **env
    )
    return subprocess.Popen(
        [str(exe), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "boom.py").write_text(BOOM_PLUGIN)
    library = tmp_path / "library"
    make_library(library)
    return library, plugins


def clean_ingest(tmp_path: Path, library: Path, plugins: Path, embedder: Any) -> dict[str, Any]:
    home = tmp_path / "clean"
    assert cli(home, plugins, "add", str(library)).wait() == 0
    assert cli(home, plugins, "ingest").wait() == 0
    return snapshot(home, embedder)


def test_kill_9_inside_a_batch(setup: tuple[Path, Path], tmp_path: Path, embedder: Any) -> None:
    library, plugins = setup
    home = tmp_path / "crashy"
    assert cli(home, plugins, "add", str(library)).wait() == 0
    crashed = cli(home, plugins, "ingest", BOOM="1")
    assert crashed.wait() == -signal.SIGKILL
    partial = snapshot(home, embedder)
    assert 0 < len(partial["files"]) < 301  # the first batch committed, the rest did not
    rerun = cli(home, plugins, "ingest", "--json")
    assert rerun.wait() == 0, rerun.stderr.read() if rerun.stderr else ""
    assert snapshot(home, embedder) == clean_ingest(tmp_path, library, plugins, embedder)


def test_kill_9_at_a_random_moment(setup: tuple[Path, Path], tmp_path: Path, embedder: Any) -> None:
    """Kill as soon as the first chunks are visible: lands between commits of a batch."""
    import lancedb

    library, plugins = setup
    home = tmp_path / "crashy"
    assert cli(home, plugins, "add", str(library)).wait() == 0
    process = cli(home, plugins, "ingest")
    db_dir = resolve_paths(home).db_dir
    while process.poll() is None:  # poll the store itself: the kill follows a real commit
        try:
            visible = lancedb.connect(str(db_dir)).open_table("chunks").count_rows()
        except (ValueError, FileNotFoundError, OSError):  # not created yet
            visible = 0
        if visible > 0:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    rerun = cli(home, plugins, "ingest")
    assert rerun.wait() == 0
    assert snapshot(home, embedder) == clean_ingest(tmp_path, library, plugins, embedder)


# Kills its own process a fixed time after the first file is read: a person pressing kill -9
# (or a power cut) in the middle of a long first ingest whose cost is embedding, not reading.
TIMED_KILL_PLUGIN = """
import os, signal, threading
from workbench.core.extraction.documents import Block, Extraction
from workbench.hookspecs import hookimpl

_timer = []

class Slow:
    name = "essay"
    version = "1"
    suffixes = frozenset({".essay"})
    filenames = frozenset()

    def extract(self, path, data):
        if not _timer and "KILL_AFTER_S" in os.environ:
            kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
            _timer.append(threading.Timer(float(os.environ["KILL_AFTER_S"]), kill))
            _timer[0].start()
        return Extraction("essay", [Block(data.decode(), 1, 1)])

@hookimpl
def register_extractors(register):
    register(Slow())
"""


def test_kill_9_mid_ingest_keeps_what_finished_seconds_before(
    tmp_path: Path, embedder: Any
) -> None:
    """The README's promise: finished files are committed at least every 5 s (flush_seconds),
    so a kill 12 s into an ingest whose cost is embedding keeps the files finished early."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "essay.py").write_text(TIMED_KILL_PLUGIN)
    library = tmp_path / "essays"
    library.mkdir()
    words = "kiln glaze loom heddle sourdough marmalade lantern harbour granite meadow".split()
    for i in range(240):  # one or two long chunks of its own each: nothing is reused
        text = " ".join(f"{words[(i * 7 + j) % 10]}{(i * 31 + j) % 997}" for j in range(70))
        (library / f"essay-{i:04d}.essay").write_text(text)
    home = tmp_path / "home"
    assert cli(home, plugins, "add", str(library)).wait() == 0
    process = cli(home, plugins, "ingest", KILL_AFTER_S="12")
    assert process.wait() == -signal.SIGKILL
    kept = snapshot(home, embedder)
    assert kept["files"], "nothing was committed in the 12 s before the kill"
    # Every committed file has its chunk (a later batch may have left orphans: purged below).
    assert {name for name, _, _ in kept["files"]} <= set(kept["paths"])
    rerun = cli(home, plugins, "ingest", "--json")
    assert rerun.wait() == 0
    done = snapshot(home, embedder)
    assert {status for _, status, _ in done["files"]} == {"indexed"}
    assert len(done["files"]) == 240
    assert done["chunks"] == done["unique_ids"] == sum(n for _, _, n in done["files"])
