"""Live folders: watchdog events, debounced and coalesced, fed into the incremental sync.

The watcher is a plain blocking loop (``run``) that `workbench watch` runs in the foreground
and the terminal UI runs in a thread worker. It reports what it does through ``on_event``.

- Start-up reconciliation is a full sync, so changes made while nothing watched are found.
- Events are coalesced per path and processed when the folder has been quiet for
  ``debounce_s`` (or after ``max_wait_s`` of continuous activity), as one sync over the
  paths they named: a git checkout of thousands of files becomes a few batched syncs.
- Folders added to or removed from the library (by any process) are picked up; a folder that
  disappears keeps its index and is reported, and is reconciled when it comes back.
- Directories inotify cannot watch (its per-user watch limit reached) are polled instead, and a
  ``warning`` event says so, with the fix.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from workbench.core.index import inotify
from workbench.core.index.locks import LockHeld, exclusive_lock
from workbench.core.index.polling import DirectoryPoller
from workbench.core.index.scope import in_scope, minimal_scope
from workbench.core.index.sync import Syncer, SyncReport
from workbench.errors import StoreLockedError, WorkbenchError

_STOP = ("", False)  # queue sentinel: wake the loop to stop

POLL_UNWATCHED_S = 2.0
"""How often directories that inotify could not watch are polled for changes."""


@dataclass
class WatchEvent:
    """Something the watcher did; ``as_json`` is one line of `workbench watch --json`."""

    # started, batch, folder_added, folder_removed, folder_missing, folder_back, busy,
    # optimized, warning, stopped
    event: str
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "at": round(self.at, 3), **self.data}


class _Handler(FileSystemEventHandler):
    """Turns watchdog events into (path, is_dir) items on a queue; runs in watchdog's thread."""

    def __init__(self, sink: queue.Queue[tuple[str, bool]]) -> None:
        super().__init__()
        self.sink = sink

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write") or (kind == "modified" and event.is_directory):
            return  # a directory's own "modified" only repeats what its files' events say
        self.sink.put((os.fsdecode(event.src_path), event.is_directory))
        if kind == "moved":
            self.sink.put((os.fsdecode(event.dest_path), event.is_directory))


class LibraryWatcher:
    """Keeps the index of every library folder in step with the disk until stopped."""

    def __init__(
        self,
        syncer: Syncer,
        *,
        lock_file: Path,
        on_event: Callable[[WatchEvent], None] = lambda event: None,
        on_progress: Callable[[Any], None] = lambda progress: None,
        debounce_s: float = 0.2,
        max_wait_s: float = 2.0,
        poll_folders_s: float = 1.0,
        poll_unwatched_s: float = POLL_UNWATCHED_S,
    ) -> None:
        self.syncer = syncer
        self.store = syncer.store
        self.lock_file = lock_file
        self.on_event = on_event
        self.on_progress = on_progress
        self.debounce_s = debounce_s
        self.max_wait_s = max_wait_s
        self.poll_folders_s = poll_folders_s
        self.poll_unwatched_s = poll_unwatched_s
        self._events: queue.Queue[tuple[str, bool]] = queue.Queue()
        self._stop = threading.Event()
        self._watches: dict[str, Any] = {}
        self._missing: set[str] = set()
        self._observer: Any = None
        self._unoptimized = False  # batches whose index compaction was left for idle time
        self.idle_optimize_s = 30.0
        self._poller = DirectoryPoller(self._skipped)
        self._check_due: set[str] = set()  # folders and new directories: are they watched?
        self._limit_hit: str | None = None  # the fs.inotify setting a watch failed on

    # -- control ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to stop (thread- and signal-safe); the batch in flight ends safely."""
        self._stop.set()
        self._events.put(_STOP)

    def run(self) -> None:
        """Reconcile, then process events until ``stop()``. Blocks."""
        from watchdog.observers import Observer

        with self._single_watcher():
            self._observer = Observer()
            self._observer.start()
            try:
                folders = self.store.folders()
                self._update_watches(folders, announce=False)
                present = [f for f in folders if f not in self._missing]
                self.on_event(
                    WatchEvent("started", {"folders": folders, "missing": sorted(self._missing)})
                )
                self._check_watches(synced_next=present)
                if present:
                    self._sync(present, "startup", events=0)
                self._loop()
            finally:
                self._observer.stop()
                self._observer.join(timeout=5)
                self.on_event(WatchEvent("stopped"))

    # -- the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        pending: set[str] = set()
        first_at = last_at = 0.0
        events = 0
        folders_checked = polled = idle_since = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            next_folder_check = folders_checked + self.poll_folders_s
            wake_at = next_folder_check
            if self._poller.roots:
                wake_at = min(wake_at, polled + self.poll_unwatched_s)
            if pending:
                wake_at = min(wake_at, last_at + self.debounce_s, first_at + self.max_wait_s)
            try:
                item = self._events.get(timeout=max(0.0, wake_at - now))
            except queue.Empty:
                item = None
            if item is not None and item != _STOP:
                now = time.monotonic()
                for path, is_dir in [item, *self._drain()]:
                    if path in self._watches:  # a library folder itself: deleted, moved?
                        next_folder_check = now
                    elif self._wanted(path, is_dir):
                        if not pending:
                            first_at = now
                        pending.add(path)
                        events += 1
                        last_at = now
                        if is_dir and not self._poller.covers(path):
                            self._check_due.add(path)  # a new directory: did it get a watch?
            if self._stop.is_set():
                break
            now = time.monotonic()
            if pending and (now >= last_at + self.debounce_s or now >= first_at + self.max_wait_s):
                batch, pending = pending, set()
                if not self._sync(sorted(batch), "events", events):
                    pending = batch  # the library was busy: try again after the next wait
                    first_at = last_at = time.monotonic()
                events = 0
            if pending or item is not None:
                idle_since = now
            elif self._unoptimized and now - idle_since >= self.idle_optimize_s:
                self._optimize()
            if now >= next_folder_check:
                self._update_watches(self.store.folders(), announce=True)
                self._check_watches()
                folders_checked = time.monotonic()
            if self._poller.roots and now >= polled + self.poll_unwatched_s:
                for change in self._poller.poll():
                    self._events.put(change)
                polled = time.monotonic()

    def _drain(self) -> Iterator[tuple[str, bool]]:
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return
            if item == _STOP:
                return
            yield item

    def _wanted(self, path: str, is_dir: bool) -> bool:
        folder = self._folder_of(path)
        if folder is None or folder in self._missing:
            return False
        if os.path.basename(path) == ".gitignore":
            return True  # re-reading the rules happens at the start of the sync
        return not self.syncer.rules.ignored(path, folder, is_dir)

    def _skipped(self, path: str, is_dir: bool) -> bool:
        """Whether polling can leave ``path`` out: outside the library, or ignored."""
        folder = self._folder_of(path)
        return folder is None or self.syncer.rules.ignored(path, folder, is_dir)

    def _folder_of(self, path: str) -> str | None:
        for folder in self._watches:
            if in_scope(path, {folder}):
                return folder
        return None

    def _sync(self, paths: list[str], trigger: str, events: int) -> bool:
        """One incremental sync over ``paths``; False when another writer kept the lock."""
        # A folder deleted or unmounted since the last check must not reach the sync: its
        # files' delete events (or its own absence) would purge the index it keeps.
        for folder in [f for f in self._watches if f not in self._missing]:
            if not os.path.isdir(folder):
                self._folder_gone(folder)
        folders = [f for f in self._watches if f not in self._missing]
        scope = [p for p in paths if self._folder_of(p) in folders]
        # An edited .gitignore changes what its directory holds: sync all of it.
        scope += [os.path.dirname(p) for p in scope if os.path.basename(p) == ".gitignore"]
        if not scope:
            return True
        try:
            report: SyncReport = self.syncer.sync(
                folders,
                scope,
                on_progress=self.on_progress,
                should_stop=self._stop.is_set,
                lock_timeout=10.0,
                optimize=False,  # keeps save-to-searchable short; compaction waits for idle
            )
        except StoreLockedError as exc:
            self.on_event(WatchEvent("busy", {"message": exc.message}))
            return False
        self._unoptimized = self._unoptimized or bool(report.changes)
        self.on_event(
            WatchEvent(
                "batch",
                {
                    "trigger": trigger,
                    "events": events,
                    "paths": [change["path"] for change in report.changes],
                    "changes": report.changes,
                    **report.as_json(),
                },
            )
        )
        return True

    def _optimize(self) -> None:
        """Compact and re-index what the batches left, while nothing else is happening."""
        try:
            with self.store.writing(timeout=0):
                started = time.perf_counter()
                self.store.refresh_indexes(force=True)
        except StoreLockedError:
            return  # someone is writing; try at the next idle moment
        self._unoptimized = False
        self.on_event(WatchEvent("optimized", {"seconds": round(time.perf_counter() - started, 3)}))

    # -- folders ------------------------------------------------------------------------------
    def _update_watches(self, folders: list[str], announce: bool) -> None:
        """Schedule new folders, drop removed ones, notice folders that vanish or return."""
        for folder in [f for f in self._watches if f not in folders]:
            self._unschedule(folder)
            self._poller.drop(folder)
            self._watches.pop(folder, None)
            self._missing.discard(folder)
            if announce:
                self.on_event(WatchEvent("folder_removed", {"path": folder}))
        for folder in folders:
            exists = os.path.isdir(folder)
            known = folder in self._watches
            if not known:
                self._watches[folder] = None
                if exists:
                    self._schedule(folder)
                    if announce:
                        self.on_event(WatchEvent("folder_added", {"path": folder}))
                        self._check_watches(synced_next=[folder])
                        self._sync([folder], "folder_added", 0)
                else:
                    self._folder_gone(folder)
            elif exists and folder in self._missing:
                self._missing.discard(folder)
                self._schedule(folder)
                self.on_event(WatchEvent("folder_back", {"path": folder}))
                self._check_watches(synced_next=[folder])
                self._sync([folder], "folder_back", 0)
            elif not exists and folder not in self._missing:
                self._folder_gone(folder)

    def _folder_gone(self, folder: str) -> None:
        """Stop watching a folder that vanished; its index stays until it comes back."""
        self._missing.add(folder)
        self._unschedule(folder)
        self._poller.drop(folder)
        message = "kept its index; watching the rest; synced again when it comes back"
        self.on_event(WatchEvent("folder_missing", {"path": folder, "message": message}))

    def _schedule(self, folder: str) -> None:
        self._check_due.add(folder)  # its subdirectories' watches can fail without a word
        try:
            self._watches[folder] = self._observer.schedule(
                _Handler(self._events), folder, recursive=True
            )
        except OSError as exc:
            setting = inotify.limit_setting(exc)
            if setting is not None:  # present but unwatchable: polled, see _check_watches
                self._limit_hit = setting
                return
            self._missing.add(folder)
            self.on_event(WatchEvent("folder_missing", {"path": folder, "message": str(exc)}))

    def _check_watches(self, synced_next: list[str] | tuple[str, ...] = ()) -> None:
        """Poll what inotify could not watch among the folders and directories due a check.

        Only looks when a watch is known to have failed or the limit is reached now, so the
        common case costs one probe. ``synced_next`` are folders about to be synced whole;
        other newly polled trees are synced once, for what changed before polling began.
        """
        due = {d for d in self._check_due if not self._poller.covers(d)}
        self._check_due.clear()
        present = {f for f in self._watches if f not in self._missing}
        due = {d for d in due if in_scope(d, present)}
        if not due or not (self._limit_hit or self._poller.roots or inotify.limit_reached("/")):
            return
        watched = inotify.watched_inodes()
        if watched is None:
            return  # the kernel cannot say (not Linux): nothing to check
        found = inotify.unwatched_directories(
            minimal_scope(sorted(due)), watched, lambda path: self._skipped(path, True)
        )
        if not found.directories:
            return
        for root in minimal_scope(found.directories):
            self._poller.add(root)
            if not in_scope(root, set(synced_next)):
                self._events.put((root, True))
        self._warn_unwatched(found)

    def _warn_unwatched(self, found: inotify.Unwatched) -> None:
        setting = self._limit_hit or "max_user_watches"
        folders = sorted({f for d in found.directories if (f := self._folder_of(d))})
        self.on_event(
            WatchEvent(
                "warning",
                {
                    "reason": "inotify_limit",
                    "setting": f"fs.inotify.{setting}",
                    "limit": inotify.current_limit(setting),
                    "unwatched": len(found.directories),
                    "checked": found.checked,
                    "folders": folders,
                    "poll_s": self.poll_unwatched_s,
                    "fix": f"sudo sysctl fs.inotify.{setting}={inotify.SUGGESTED[setting]}",
                    "message": inotify.limit_message(
                        setting, len(found.directories), found.checked, self.poll_unwatched_s
                    ),
                },
            )
        )

    def _unschedule(self, folder: str) -> None:
        watch = self._watches.get(folder)
        if watch is not None:
            with contextlib.suppress(KeyError, OSError):
                self._observer.unschedule(watch)
            self._watches[folder] = None

    @contextlib.contextmanager
    def _single_watcher(self) -> Iterator[None]:
        """One watcher per library: a second one would only do the same work twice."""
        try:
            with exclusive_lock(self.lock_file):
                yield
        except LockHeld as held:
            raise WorkbenchError(
                f"This library is already being watched by process {held.holder}. Stop that one "
                f"first (Ctrl-C, or `kill {held.holder}`); one watcher keeps the index current.",
                title="Already watching",
            ) from None
