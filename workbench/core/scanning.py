"""Stat-only walk of the registered folders: what exists, how big, when modified.

Nothing is read here; the sync hashes only files whose size or mtime changed.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_IGNORED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", ".idea", ".vscode", ".cache",
        ".ipynb_checkpoints", "site-packages", ".Trash", ".lancedb",
    }
)  # fmt: skip
DEFAULT_IGNORED_FILES = (
    ".DS_Store", "Thumbs.db", "desktop.ini", "*~", ".*.swp", ".*.swo", ".*.swx", "*.tmp",
    "*.temp", ".#*", "#*#", "~$*", "*.part", "*.crdownload", "*.lock", "*.pyc",
)  # fmt: skip


@dataclass(frozen=True)
class ScanEntry:
    """A file seen on disk; ``problem`` says why it cannot be indexed, if it cannot."""

    path: str
    folder: str
    size: int
    mtime_ns: int
    problem: str | None = None


class IgnoreRules:
    """Default ignores plus the user's globs (matched against names and full paths)."""

    def __init__(self, extra: Sequence[str] = ()) -> None:
        self.extra = tuple(extra)

    def ignores_dir(self, name: str, path: str) -> bool:
        return name in DEFAULT_IGNORED_DIRS or self._matches_extra(name, path)

    def ignores_file(self, name: str, path: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in DEFAULT_IGNORED_FILES) or (
            self._matches_extra(name, path)
        )

    def _matches_extra(self, name: str, path: str) -> bool:
        return any(
            fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(path, pattern)
            for pattern in self.extra
        )


def scan_folder(
    folder: str,
    rules: IgnoreRules,
    *,
    follow_symlinks: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[ScanEntry]:
    """Every file under ``folder`` that the rules do not ignore, depth first, sorted by name."""
    root = Path(folder)
    try:
        root_stat = root.stat()
    except OSError:
        return
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    yield from _walk(str(root), folder, rules, follow_symlinks, visited, should_stop)


def _walk(
    directory: str,
    folder: str,
    rules: IgnoreRules,
    follow_symlinks: bool,
    visited: set[tuple[int, int]],
    should_stop: Callable[[], bool],
) -> Iterator[ScanEntry]:
    try:
        with os.scandir(directory) as iterator:
            entries = sorted(iterator, key=lambda entry: entry.name)
    except OSError:
        return  # unreadable or vanished directory: its files are not seen (kept if indexed)
    for entry in entries:
        if should_stop():
            return
        try:
            is_link = entry.is_symlink()
            if is_link and not follow_symlinks:
                continue
        except OSError:
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:  # e.g. a link to itself: recorded with its reason below
            is_dir = False
        if is_dir:
            if rules.ignores_dir(entry.name, entry.path):
                continue
            try:
                info = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            if key in visited:
                if is_link:  # a link back to a folder already walked: following it loops
                    yield ScanEntry(
                        entry.path,
                        folder,
                        0,
                        0,
                        "symbolic link loop (links to a folder already indexed)",
                    )
                continue
            visited.add(key)
            yield from _walk(entry.path, folder, rules, follow_symlinks, visited, should_stop)
            continue
        if rules.ignores_file(entry.name, entry.path):
            continue
        yield _file_entry(entry, folder, is_link)


def _file_entry(entry: os.DirEntry[str], folder: str, is_link: bool) -> ScanEntry:
    try:
        info = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        if is_link:
            return ScanEntry(entry.path, folder, 0, 0, "broken symbolic link (its target is gone)")
        return ScanEntry(entry.path, folder, 0, 0, "vanished while scanning")
    except OSError as exc:
        if is_link and getattr(exc, "errno", None) == 40:  # ELOOP
            return ScanEntry(entry.path, folder, 0, 0, "symbolic link loop")
        return ScanEntry(entry.path, folder, 0, 0, f"cannot read: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        return ScanEntry(
            entry.path, folder, 0, info.st_mtime_ns, "not a regular file (device, pipe or socket)"
        )
    return ScanEntry(entry.path, folder, info.st_size, info.st_mtime_ns)
