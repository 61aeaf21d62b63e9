"""What the watcher needs to know about Linux inotify: its limits, and what it really watches.

watchdog watches a folder with one inotify watch per directory. Past the per-user limit
(``fs.inotify.max_user_watches``) it cannot add more: a folder's own watch fails with ENOSPC,
and the watches of its subdirectories fail silently (watchdog 7 skips them). The kernel lists
every watch of an inotify instance in ``/proc/self/fdinfo``, so which directories are really
watched can be checked, whatever watchdog did.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIMIT_ERRORS = {errno.ENOSPC: "max_user_watches", errno.EMFILE: "max_user_instances"}
"""errno of a failed watch -> the fs.inotify setting that limits it."""

SUGGESTED = {"max_user_watches": 524288, "max_user_instances": 1024}
_IN_DELETE_SELF = 0x400  # any valid mask will do for the probe


@dataclass(frozen=True)
class Unwatched:
    """Directories below some roots that inotify does not watch."""

    directories: list[str]
    checked: int  # directories looked at, those above included


def limit_setting(exc: OSError) -> str | None:
    """The fs.inotify setting whose limit made ``exc`` happen, if a limit did."""
    return LIMIT_ERRORS.get(exc.errno or 0)


def current_limit(setting: str) -> int | None:
    """The value of ``fs.inotify.<setting>``, or None where it cannot be read."""
    try:
        return int(Path("/proc/sys/fs/inotify", setting).read_text())
    except (OSError, ValueError):
        return None


def limit_reached(path: str) -> bool:
    """Whether the inotify limit refuses one more watch (tried on ``path`` from a new instance)."""
    calls = _inotify_calls()
    if calls is None:
        return False  # not Linux: no such limit
    init, add_watch = calls
    fd = init(os.O_CLOEXEC)
    if fd < 0:
        return ctypes.get_errno() == errno.EMFILE
    try:
        return add_watch(fd, os.fsencode(path), _IN_DELETE_SELF) < 0 and ctypes.get_errno() in (
            errno.ENOSPC,
            errno.EMFILE,
        )
    finally:
        os.close(fd)  # drops the probe's watch with it


@functools.cache
def _inotify_calls() -> tuple[Any, Any] | None:
    """libc's inotify_init1 and inotify_add_watch, where there are such calls."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.inotify_init1, libc.inotify_add_watch
    except (OSError, AttributeError):
        return None


def watched_inodes() -> set[tuple[int, int]] | None:
    """(st_dev, st_ino) of everything this process's inotify instances watch.

    None where the kernel does not say (no /proc, as off Linux): then nothing can be checked.
    """
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    watched: set[tuple[int, int]] = set()
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            lines = Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines()
        except OSError:
            continue  # closed since the listing
        for line in lines:
            if line.startswith("inotify wd:"):
                watched.add(_inode_of(line))
    return watched


def _inode_of(line: str) -> tuple[int, int]:
    """(st_dev, st_ino) of one fdinfo line: ``inotify wd:3 ino:a2c1 sdev:800001 mask:...``."""
    fields = dict(part.split(":", 1) for part in line.split()[1:] if ":" in part)
    kernel_dev = int(fields["sdev"], 16)  # the kernel's dev_t: 12-bit major, 20-bit minor
    return os.makedev(kernel_dev >> 20, kernel_dev & 0xFFFFF), int(fields["ino"], 16)


def unwatched_directories(
    roots: Iterable[str], watched: set[tuple[int, int]], skip: Callable[[str], bool]
) -> Unwatched:
    """The directories under ``roots`` (roots included) that no inotify watch covers.

    Walks like watchdog does (symbolic links not followed); ``skip`` prunes directories
    nobody needs watched (ignored ones).
    """
    unwatched: list[str] = []
    checked = 0
    stack = list(roots)
    while stack:
        directory = stack.pop()
        try:
            info = os.stat(directory, follow_symlinks=False)
            children = [e.path for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue  # gone, or unreadable: the sync reports what it cannot read
        checked += 1
        if (info.st_dev, info.st_ino) not in watched:
            unwatched.append(directory)
        stack.extend(sorted((c for c in children if not skip(c)), reverse=True))
    return Unwatched(unwatched, checked)


def limit_message(setting: str, unwatched: int, checked: int, poll_s: float) -> str:
    """What happened, what Workbench does about it, and the fix."""
    limit = current_limit(setting)
    value = SUGGESTED[setting]
    now = f" = {limit}" if limit is not None else ""
    return (
        f"{unwatched} of {checked} folders could not be watched: the inotify limit "
        f"fs.inotify.{setting}{now} is reached. They are polled instead, so changes in them "
        f"show up within {poll_s:g} s. To watch them all, raise the limit with "
        f"`sudo sysctl fs.inotify.{setting}={value}` (to keep it after a reboot: "
        f"`echo fs.inotify.{setting}={value} | sudo tee /etc/sysctl.d/60-inotify.conf`), "
        "then restart the watcher."
    )
