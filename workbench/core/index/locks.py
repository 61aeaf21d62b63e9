"""Inter-process locks on files: one writer per library, one watcher per library."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


class LockHeld(Exception):  # noqa: N818 - a signal for the caller, who raises the real error
    """The lock is held by another process; ``holder`` is its pid as it wrote it."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


@contextlib.contextmanager
def exclusive_lock(lock_file: Path, timeout: float = 0.0) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_file`` (with our pid in it) for the block.

    Waits up to ``timeout`` seconds for another holder; then raises LockHeld. The kernel drops
    the lock when its process dies, so a kill -9 never leaves a stale lock behind.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    if not _acquire(fd, timeout):
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise LockHeld(holder)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    try:
        yield
    finally:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _acquire(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)  # polling a lock held by another process; not test synchronisation
