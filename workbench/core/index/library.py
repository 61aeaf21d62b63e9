"""The library service: its folders, their sync and watch, and what each file came to.

One ``Library`` per index (the user's, or an evaluation's own): it owns the Store and the
Syncer built on it, so every caller shares one idea of what "up to date" means.
"""

from __future__ import annotations

import copy
import functools
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.core.extraction.registry import ExtractorRegistry
from workbench.core.foreground import foreground, signal_file
from workbench.core.index import history
from workbench.core.index.engines import LocalEngine, RayEngine
from workbench.core.index.failures import explaining
from workbench.core.index.history import AsOf, IndexVersion
from workbench.core.index.location import Location
from workbench.core.index.records import (
    DoctorReport,
    FileState,
    FolderSummary,
    LibraryStatus,
    RepairResult,
)
from workbench.core.index.scanning import LinkPolicy, display_path, scan_folder
from workbench.core.index.search import SearchResult, search
from workbench.core.index.store import FileRecord, Store, path_digest
from workbench.core.index.sync import Syncer, SyncProgress, SyncReport, under
from workbench.core.index.watcher import LibraryWatcher, WatchEvent
from workbench.errors import StoreDamagedError, WorkbenchError

if TYPE_CHECKING:
    from workbench.core.forgetting import Forgotten, Logs

NoProgress = Callable[[SyncProgress], None]


class Library:
    """Folders, sync, watch and search over one LanceDB index."""

    def __init__(
        self,
        location: Location | Path,
        lock_file: Path,
        registry: ExtractorRegistry,
        embedder: Any,
        settings: Settings,
    ) -> None:
        self.location = location if isinstance(location, Location) else Location.parse(location)
        self.lock_file = lock_file
        self.registry = registry
        self.embedder = embedder
        self.settings = settings

    @functools.cached_property
    def store(self) -> Store:
        return Store(
            self.location,
            self.embedder.dim,
            self.lock_file,
            keep_versions=timedelta(days=self.settings.index_history_days),
            history_budget=self.settings.index_history_budget,
        )

    @functools.cached_property
    def syncer(self) -> Syncer:
        return Syncer(self.store, self.registry, self.embedder, self.settings)

    def with_settings(self, settings: Settings) -> Library:
        """This library (same index, same open Store) read with other settings."""
        other = copy.copy(self)
        other.settings = settings
        return other

    def reopen(self) -> None:
        """Forget the Store and Syncer (after the index was replaced on disk)."""
        for name in ("store", "syncer"):
            self.__dict__.pop(name, None)

    # -- folders --------------------------------------------------------------------------
    @explaining
    def folders(self) -> list[str]:
        return self.store.folders()

    @explaining
    def add_folder(self, path: str | os.PathLike[str]) -> str:
        """Register a folder; returns its absolute path. Nothing is indexed until ``ingest``."""
        text = _checked_folder(Path(path).expanduser().absolute())
        existing = self.folders()
        covering = [f for f in existing if under(text, [f])]
        if covering:
            raise WorkbenchError(
                f"{text} is already in the library as part of {covering[0]}.", "Already added"
            )
        with self.store.writing():
            for inner in [f for f in existing if under(f, [text])]:
                self.store.remove_folder(inner)  # the new folder covers it; its files stay
            self.store.add_folder(text, time.time())
        return text

    @explaining
    def remove_folder(self, path: str | os.PathLike[str]) -> int:
        """Unregister a folder and purge its files from the index; returns files purged."""
        text = str(Path(path).expanduser().absolute())
        if text not in self.folders():
            raise WorkbenchError(
                f"{text} is not a library folder. Library folders: "
                f"{', '.join(self.folders()) or 'none'} (see `workbench folders`).",
                "Not in library",
            )
        with self.store.writing():
            purged = [p for p in self.store.file_records() if under(p, [text])]
            self.store.delete_files(purged)
            self.store.remove_folder(text)
            self.store.refresh_indexes()
        return len(purged)

    @explaining
    def file_states(self, folder: str) -> list[FileState]:
        """Every file of ``folder`` with its status, by the Syncer's own test of "current"
        (size, mtime, extractor and embedder versions): worst first, then by path."""
        records = {p: r for p, r in self.store.file_records().items() if under(p, [folder])}
        states: list[FileState] = []
        present = os.path.isdir(folder)
        links = LinkPolicy.for_folders(
            self.folders(), self.settings.allow_link_targets, self.settings.follow_symlinks
        )
        forgotten = self.store.forgotten()
        for entry in scan_folder(folder, self.syncer.rules, links=links) if present else []:
            record = records.pop(entry.path, None)
            if forgotten and path_digest(entry.path) in forgotten:
                reason = f"forgotten (`workbench unforget {entry.path}` indexes it again)"
                states.append(FileState(entry.path, "", "skipped", 0, reason))
            elif record is None:
                states.append(FileState(entry.path, "", "pending", 0, "not synced yet"))
            elif self.syncer.is_current(record, entry):
                states.append(_state(record, record.status, record.reason))
            else:
                states.append(FileState(entry.path, record.kind, "pending", 0, "changed on disk"))
        for record in records.values():  # in the index, not on disk
            if present:
                states.append(_state(record, "pending", "deleted on disk"))
            else:
                states.append(_state(record, record.status, "folder missing"))
        return sorted(states, key=lambda state: state.order)

    @explaining
    def folder_summaries(self) -> list[FolderSummary]:
        records = self.store.file_records()
        summaries = []
        for folder in self.folders():
            mine = [r for p, r in records.items() if under(p, [folder])]
            indexed = sum(r.status == "indexed" for r in mine)
            summaries.append(
                FolderSummary(
                    folder, os.path.isdir(folder), indexed, len(mine) - indexed,
                    sum(r.chunks for r in mine),
                )
            )  # fmt: skip
        return summaries

    # -- health (core/index/health.py) -------------------------------------------------------
    def status(self) -> LibraryStatus:
        from workbench.core.index.health import library_status

        return library_status(self)

    def doctor(self) -> DoctorReport:
        from workbench.core.index.health import doctor

        return doctor(self)

    def repair(
        self,
        *,
        on_progress: NoProgress = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> RepairResult:
        from workbench.core.index.health import repair

        return repair(self, on_progress=on_progress, should_stop=should_stop)

    # -- sync, watch and search -------------------------------------------------------------
    def check(self) -> None:
        """Raise StoreDamagedError when a table of the index cannot be read back (quick)."""
        problems = self.store.check()
        if problems:
            raise StoreDamagedError(self.location, "; ".join(problems))

    @explaining
    def ingest(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        on_progress: NoProgress = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
        lock_timeout: float = 30.0,
        engine: LocalEngine | RayEngine | None = None,
    ) -> SyncReport:
        """Incrementally sync every folder, or only ``path`` (a folder or file in the library).

        Waits up to ``lock_timeout`` seconds for another writer (`workbench watch`) to finish
        its batch before giving up with "Library busy". ``engine`` reads, extracts and embeds
        the changed files (``engines``; in this process by default).
        """
        folders = self.folders()
        if not folders:
            raise WorkbenchError(
                "The library has no folders yet. Add one with `workbench add PATH`.",
                "Nothing to sync",
            )
        scope = None if path is None else [self._inside(path, folders)]
        missing = [f for f in (scope or folders) if not os.path.exists(f)]
        if missing and scope:
            raise WorkbenchError(f"{missing[0]} does not exist.", "Nothing to sync")
        present = [f for f in folders if os.path.isdir(f)]
        self.check()
        report = self.syncer.sync(
            present, scope or present, on_progress=on_progress, should_stop=should_stop,
            lock_timeout=lock_timeout, engine=engine,
        )  # fmt: skip
        report.missing_folders = missing
        return report

    @staticmethod
    def _inside(path: str | os.PathLike[str], folders: list[str]) -> str:
        target = str(Path(path).expanduser().absolute())
        if not under(target, folders):
            raise WorkbenchError(
                f"{target} is not inside a library folder. Add it first with "
                f"`workbench add {target}`.",
                "Not in library",
            )
        return target

    def watcher(
        self,
        watch_lock: Path,
        on_event: Callable[[WatchEvent], None] = lambda event: None,
        on_progress: NoProgress = lambda progress: None,
    ) -> LibraryWatcher:
        """A LibraryWatcher over every library folder; call ``run()`` (blocks) and ``stop()``."""
        return LibraryWatcher(
            self.syncer,
            lock_file=watch_lock,
            on_event=on_event,
            on_progress=on_progress,
            debounce_s=self.settings.watch_debounce_s,
            max_wait_s=self.settings.watch_max_wait_s,
        )

    @explaining
    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: str = "hybrid",
        kind: str | None = None,
        path_glob: str | None = None,
        candidates: int | None = None,
        as_of: AsOf | None = None,
    ) -> list[SearchResult]:
        """Search the index, or the library as it was at ``as_of`` (see ``resolve``)."""
        store = self.reading(as_of)
        with foreground("search", signal_file(self.lock_file)):  # syncs pause meanwhile
            return search(
                store, self.embedder, query, k=k or self.settings.search_k, mode=mode,
                kind=kind, path_glob=path_glob, rrf_k=self.settings.rrf_k,
                candidates=candidates,
            )  # fmt: skip

    # -- history (core/index/history.py) ---------------------------------------------------
    def reading(self, as_of: AsOf | None) -> Store:
        """The Store to read: the live one, or a read-only checkout of ``as_of``."""
        return self.store if as_of is None else self.store.snapshot(as_of.pins)

    @explaining
    def resolve(self, asked: str) -> AsOf:
        """The past index a version number, tag or ISO time names."""
        return history.resolve(self.store, asked)

    @explaining
    def versions(self, every: bool = False) -> list[IndexVersion]:
        return history.versions(self.store, every=every)

    @explaining
    def history_usage(self) -> dict[str, Any]:
        return history.usage(self.store)

    @explaining
    def tag(self, name: str, asked: str | None = None) -> AsOf:
        return history.tag(self.store, name, asked)

    @explaining
    def untag(self, name: str) -> int:
        return history.untag(self.store, name)

    # -- forgetting (core/forgetting.py) ---------------------------------------------------
    @explaining
    def forget(self, path: str | os.PathLike[str], match: str | None, logs: Logs) -> Forgotten:
        """Forget a file or folder (only files holding ``match``) everywhere, and prove it."""
        from workbench.core.forgetting import forget

        if match is not None and not match.strip():
            raise WorkbenchError(
                "--match is empty, which would forget every file under the path. Give the "
                "text to look for, or leave --match out to forget the whole path.",
                "Bad match",
            )
        scope = str(Path(path).expanduser().absolute())
        forgotten = forget(self.store, scope, match, logs, self.folders())
        self.reopen()  # the tables were written anew
        return forgotten

    @explaining
    def unforget(self, path: str | os.PathLike[str]) -> bool:
        """Let syncs index a forgotten path again."""
        from workbench.core.forgetting import unforget

        return unforget(self.store, str(Path(path).expanduser().absolute()))


def _checked_folder(folder: Path) -> str:
    if not folder.exists():
        raise WorkbenchError(
            f"{folder} does not exist. Check the path and try again.", "Cannot add folder"
        )
    if not folder.is_dir():
        raise WorkbenchError(
            f"{folder} is a file. Add the folder that contains it instead.", "Cannot add folder"
        )
    text = str(folder)
    if display_path(text) != text:
        raise WorkbenchError(
            f"The path {display_path(text)} is not valid UTF-8, so its files could not be "
            "stored or shown reliably. Rename the folder (e.g. `convmv -f latin1 -t utf-8`) "
            "and add it again.",
            "Cannot add folder",
        )
    return text


def _state(record: FileRecord, status: str, reason: str) -> FileState:
    return FileState(record.path, record.kind, status, record.chunks, reason)
