"""Changes under directories no watch covers, found by comparing stat snapshots.

The watcher's fallback where inotify cannot watch (its per-user limit reached): every poll
lists the polled directories again (stat only, like the sync's scan) and reports each entry
that appeared, disappeared or changed since the previous poll, as ``(path, is_dir)`` items
like the watch events.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from workbench.core.index.scope import in_scope


class _Stat(NamedTuple):
    is_dir: bool
    inode: int
    size: int
    mtime_ns: int


class DirectoryPoller:
    """Polls a set of directory trees; ``skip(path, is_dir)`` leaves ignored entries out."""

    def __init__(self, skip: Callable[[str, bool], bool]) -> None:
        self.skip = skip
        self._roots: set[str] = set()
        self._snapshot: dict[str, _Stat] = {}

    @property
    def roots(self) -> list[str]:
        return sorted(self._roots)

    def covers(self, path: str) -> bool:
        """Whether ``path`` lies in (or is) a polled tree."""
        return in_scope(path, self._roots)

    def add(self, root: str) -> None:
        """Poll ``root`` from now on; what it holds now is the baseline, not a change."""
        if self.covers(root):
            return
        self.drop(root)  # trees inside it are polled as part of it from now on
        self._roots.add(root)
        self._snapshot.update(_snapshot(root, self.skip))

    def drop(self, folder: str) -> None:
        """Stop polling ``folder`` and every tree inside it."""
        self._roots = {r for r in self._roots if not in_scope(r, {folder})}
        self._snapshot = {p: s for p, s in self._snapshot.items() if self.covers(p)}

    def poll(self) -> list[tuple[str, bool]]:
        """What changed since the last poll (or ``add``), as (path, is_dir)."""
        current: dict[str, _Stat] = {}
        for root in self._roots:
            current.update(_snapshot(root, self.skip))
        previous, self._snapshot = self._snapshot, current
        changed = [(p, s.is_dir) for p, s in current.items() if previous.get(p) != s]
        changed += [(p, s.is_dir) for p, s in previous.items() if p not in current]
        return sorted(changed)


def _snapshot(root: str, skip: Callable[[str, bool], bool]) -> dict[str, _Stat]:
    """The stat of ``root`` and everything under it (links not followed)."""
    try:
        info = os.stat(root, follow_symlinks=False)
    except OSError:
        return {}  # gone: its entries show up as deleted
    entries = {root: _Stat(True, info.st_ino, 0, 0)}
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                found = list(listing)
        except OSError:
            continue  # vanished or unreadable since it was listed; the sync says which
        for entry in found:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                if skip(entry.path, is_dir):
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # deleted between the listing and the stat
            if is_dir:
                # A directory's own mtime moves with every entry: its entries say what changed.
                entries[entry.path] = _Stat(True, info.st_ino, 0, 0)
                stack.append(entry.path)
            else:
                entries[entry.path] = _Stat(False, info.st_ino, info.st_size, info.st_mtime_ns)
    return entries
