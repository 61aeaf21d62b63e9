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
from typing import Any

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


def display_path(path: str) -> str:
    """``path`` as text that can be stored and printed: bytes that are not UTF-8 (kept by
    Python as lone surrogates) are shown as ``\\xff`` escapes."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "backslashreplace")


def _undecodable(path: str) -> bool:
    return display_path(path) is not path


UNDECODABLE_NAME = (
    "its name is not valid UTF-8 (shown with \\x escapes), so it cannot be indexed or "
    "shown reliably; rename it (e.g. `convmv -f latin1 -t utf-8`) to index it"
)


@dataclass(frozen=True)
class LinkPolicy:
    """Which symbolic links a scan follows: by default only those whose target lies inside
    an added folder (or one of ``allowed``), so a link to /etc never leaks it into the index."""

    follow: bool = True
    roots: tuple[str, ...] = ()

    @classmethod
    def for_folders(
        cls, folders: Sequence[str], allowed: Sequence[str] = (), follow: bool = True
    ) -> LinkPolicy:
        """The policy for a library of ``folders`` (each by its own path and its real one)."""
        roots = {os.path.realpath(os.path.expanduser(p)) for p in [*folders, *allowed]}
        return cls(follow, tuple(sorted(roots | set(folders))))

    def outside(self, path: str) -> str | None:
        """Why the link at ``path`` is not followed (its target leaves the library), or None."""
        if not self.roots:
            return None
        target = os.path.realpath(path)
        for root in self.roots:
            if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
                return None
        return (
            f"symbolic link to {display_path(target)}, outside your added folders: not followed, "
            "so nothing outside the library is read (add that folder, or list it in "
            "allow_link_targets in config.toml, to index it)"
        )


class IgnoreRules:
    """What is never indexed: default junk, the user's globs, and each folder's .gitignore files.

    ``.gitignore`` files are read once and cached; call ``refresh()`` before each sync so
    edits to them take effect.
    """

    def __init__(self, extra: Sequence[str] = ()) -> None:
        self.extra = tuple(extra)
        self._gitignores: dict[str, Any] = {}

    def refresh(self) -> None:
        self._gitignores.clear()

    def ignores_dir(self, name: str, path: str) -> bool:
        return name in DEFAULT_IGNORED_DIRS or self._matches_extra(name, path)

    def ignores_file(self, name: str, path: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in DEFAULT_IGNORED_FILES) or (
            self._matches_extra(name, path)
        )

    def ignored(self, path: str, folder: str, is_dir: bool) -> bool:
        """Whether ``path`` (anywhere under ``folder``) is ignored, by any rule on the way down."""
        relative = os.path.relpath(path, folder)
        if relative.startswith(".."):
            return True
        parts = [] if relative == "." else relative.split(os.sep)
        directory = folder
        specs: list[tuple[str, Any]] = []
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            specs = self.with_gitignore(directory, specs)
            child = os.path.join(directory, part)
            child_is_dir = is_dir or not last
            if child_is_dir and self.ignores_dir(part, child):
                return True
            if not child_is_dir and self.ignores_file(part, child):
                return True
            if gitignore_matches(specs, child, child_is_dir):
                return True
            directory = child
        return False

    def with_gitignore(self, directory: str, specs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """``specs`` plus the .gitignore of ``directory``, if it has one (read once, cached)."""
        spec = self._gitignores.get(directory, _MISSING)
        if spec is _MISSING:
            spec = self._gitignores[directory] = _read_gitignore(directory)
        return [*specs, (directory, spec)] if spec is not None else specs

    def specs_above(self, folder: str, directory: str) -> list[tuple[str, Any]]:
        """The .gitignore specs of ``folder`` and every directory down to ``directory``'s parent."""
        specs: list[tuple[str, Any]] = []
        current = folder
        relative = os.path.relpath(directory, folder)
        for part in [] if relative == "." else relative.split(os.sep):
            specs = self.with_gitignore(current, specs)
            current = os.path.join(current, part)
        return specs

    def _matches_extra(self, name: str, path: str) -> bool:
        return any(
            fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(path, pattern)
            for pattern in self.extra
        )


_MISSING = object()


def gitignore_matches(specs: list[tuple[str, Any]], path: str, is_dir: bool) -> bool:
    """Whether any (directory, spec) pair ignores ``path`` (negations only work within a file)."""
    for directory, spec in specs:
        relative = path[len(directory) + 1 :] + ("/" if is_dir else "")
        if spec.match_file(relative):
            return True
    return False


def _read_gitignore(directory: str) -> Any:
    try:
        with open(os.path.join(directory, ".gitignore"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    import pathspec

    return pathspec.PathSpec.from_lines("gitignore", lines)


def scan_folder(
    folder: str,
    rules: IgnoreRules,
    *,
    links: LinkPolicy | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    specs: list[tuple[str, Any]] | None = None,
) -> Iterator[ScanEntry]:
    """Every file under ``folder`` that the rules do not ignore, depth first, sorted by name.

    ``links`` says which symbolic links are followed (by default: those that stay inside
    ``folder``). ``specs`` are .gitignore rules from above ``folder`` when it is a subfolder
    of a library folder (see ``IgnoreRules.specs_above``).
    """
    links = links or LinkPolicy.for_folders([folder])
    root = Path(folder)
    try:
        root_stat = root.stat()
    except OSError:
        return
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    yield from _walk(str(root), folder, rules, links, visited, should_stop, specs or [])


def _walk(
    directory: str,
    folder: str,
    rules: IgnoreRules,
    links: LinkPolicy,
    visited: set[tuple[int, int]],
    should_stop: Callable[[], bool],
    specs: list[tuple[str, Any]],
) -> Iterator[ScanEntry]:
    specs = rules.with_gitignore(directory, specs)
    try:
        with os.scandir(directory) as iterator:
            # Real folders before links to them: a file is indexed under its own path.
            entries = sorted(iterator, key=lambda entry: (_is_link(entry), entry.name))
    except OSError:
        return  # unreadable or vanished directory: its files are not seen (kept if indexed)
    for entry in entries:
        if should_stop():
            return
        try:
            is_link = entry.is_symlink()
            if is_link and not links.follow:
                continue
        except OSError:
            continue
        if _undecodable(entry.name):
            yield ScanEntry(display_path(entry.path), folder, 0, 0, UNDECODABLE_NAME)
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:  # e.g. a link to itself: recorded with its reason below
            is_dir = False
        if specs and gitignore_matches(specs, entry.path, is_dir):
            continue
        if is_dir:
            if rules.ignores_dir(entry.name, entry.path):
                continue
            outside = links.outside(entry.path) if is_link else None
            if outside:
                yield ScanEntry(entry.path, folder, 0, 0, outside)
                continue
            try:
                info = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            if key in visited:
                if is_link:  # following it would walk a folder twice, or forever
                    yield ScanEntry(entry.path, folder, 0, 0, _revisit_reason(entry.path))
                continue
            visited.add(key)
            yield from _walk(entry.path, folder, rules, links, visited, should_stop, specs)
            continue
        if rules.ignores_file(entry.name, entry.path):
            continue
        scanned = scan_file(entry.path, folder, is_link, links)
        if scanned is not None:
            yield scanned


def _is_link(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _revisit_reason(link: str) -> str:
    """Why a symbolic link to a folder already walked is not followed."""
    target = os.path.realpath(link)
    here = os.path.realpath(os.path.dirname(link))
    if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
        return "symbolic link loop (links to a folder it is inside)"
    return f"symbolic link to {target}, a folder already indexed under its own path"


def scan_file(
    path: str, folder: str, is_link: bool | None = None, links: LinkPolicy | None = None
) -> ScanEntry | None:
    """The ScanEntry of one file; None if it is gone. ``is_link`` saves an lstat if known.

    Without ``is_link`` (a path named by a watcher event, not met in a walk) the file's real
    path is checked against ``links`` too: a folder on its way may be a link out.
    """
    if _undecodable(path):
        if not os.path.lexists(path):
            return None
        return ScanEntry(display_path(path), folder, 0, 0, UNDECODABLE_NAME)
    links = links or LinkPolicy.for_folders([folder])
    walked = is_link is not None
    if is_link is None:
        is_link = os.path.islink(path)
    if is_link and not links.follow:
        return None
    outside = links.outside(path) if is_link or not walked else None
    if outside:
        return ScanEntry(path, folder, 0, 0, outside) if os.path.lexists(path) else None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if is_link:
            return ScanEntry(path, folder, 0, 0, "broken symbolic link (its target is gone)")
        return None
    except OSError as exc:
        if is_link and exc.errno == 40:  # ELOOP
            return ScanEntry(path, folder, 0, 0, "symbolic link loop")
        return ScanEntry(path, folder, 0, 0, f"cannot read: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        return ScanEntry(
            path, folder, 0, info.st_mtime_ns, "not a regular file (device, pipe or socket)"
        )
    return ScanEntry(path, folder, info.st_size, info.st_mtime_ns)
