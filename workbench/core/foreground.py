"""Interactive work first: background syncs yield the CPU to answers and searches.

The terminal UI syncs, watches and answers in one process, and on a laptop's few cores a sync
that embeds while the chat model decodes ruins the answer: llama.cpp's threads spin at their
barriers, so one of them preempted by the embedder's threads stalls the others (on 2 cores
SmolLM2 fell from ~150 to 8-50 tokens/s). So:

- Foreground work (an answer, a search, a chat call) runs inside ``foreground(name)``.
- Background work (a sync) runs inside a ``Background`` and calls ``wait_for_turn`` between its
  steps (each file, each embedding batch). While any foreground work runs, in this process or,
  through a shared flock on ``signal_file``, in another process using the same data dir, the
  sync parks on a condition and wakes the moment the foreground work ends.
- A sync is never starved: once foreground work has ended it works at least ``SLICE_S`` before
  it yields again (so a stream of searches cannot hold it), and after ``max_pause_s`` of one
  long piece of work it takes a turn of ``TURN_S`` with fewer threads, then yields again.
- Threads: the chat model uses the cores that background work leaves free (``free_threads``),
  all of them while the sync is parked; never more than the cores in total. A sync embeds on a
  thread of lower priority (``Background.run``), so the batch it is in the middle of when a
  search starts takes little from the search.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")

MAX_PAUSE_S = 30.0
"""Default cap on one pause: a SmolLM2 answer takes ~3 s on 2 cores and a 1.5B model's ~25 s,
so whole answers fit; a 7B model's (minutes) still lets the sync advance."""
TURN_S = 3.0
"""A starved sync then works this long (about one embedding group) before it yields again."""
SLICE_S = 0.5
"""A sync woken when foreground work ends works this long before it yields again: back-to-back
searches cannot starve it, and an answer that starts meanwhile waits at most this (``settle``)."""
SETTLE_S = 1.0
"""Longest a chat call waits for background work to reach its next yield point (one embedding
batch: 0.1-0.6 s on 2 cores) before it starts with the threads that are free."""
BACKGROUND_NICE = 10
"""Niceness of a sync's embedding thread and of the onnxruntime threads it starts (Linux, where
niceness is per thread): against a search's threads it gets ~10% of a contended core, not half,
and it still gets a fair share against other programs' niced work."""
CHECK_S = 0.2
"""A parked sync re-checks ``should_stop`` and other processes' signal this often (neither can
wake it); foreground work in this process wakes it at once."""

WORKING, PARKED, TURN = "working", "parked", "turn"


def cpu_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def chat_threads(setting: int) -> int:
    """Threads for the chat model: ``setting`` (0: one per core), never more than the cores."""
    cores = cpu_cores()
    return min(setting, cores) if setting > 0 else cores


def embed_threads(setting: int) -> int:
    """Threads for embedding: ``setting`` (0: up to 4), never more than the cores."""
    cores = cpu_cores()
    return min(setting, cores) if setting > 0 else min(4, cores)


def signal_file(lock_file: Path) -> Path:
    """The file other processes' syncs check, beside the library's write lock."""
    return lock_file.with_name("foreground.lock")


class _Registry:
    """What runs in this process: foreground work, and background work with its claims."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.active: dict[int, tuple[str, Path | None]] = {}
        self.workers: set[Background] = set()
        self.claimed = 0  # threads background work may be using now (read without the lock)
        self.idle_epoch = 0  # times this process's foreground work has all ended
        self._signals: dict[Path, list[int]] = {}  # path -> [fd, holders]
        self._tokens = itertools.count(1)

    def enter(self, name: str, path: Path | None) -> int:
        with self.cond:
            token = next(self._tokens)
            held = path if path is not None and self._hold(path) else None
            self.active[token] = (name, held)
            return token

    def leave(self, token: int) -> None:
        with self.cond:
            _, held = self.active.pop(token)
            if held is not None:
                entry = self._signals[held]
                entry[1] -= 1
                if not entry[1]:
                    os.close(entry[0])  # drops the shared flock
                    del self._signals[held]
            if not self.active:
                self.idle_epoch += 1
                self.cond.notify_all()

    def _hold(self, path: Path) -> bool:
        """Share-lock ``path`` while this process has foreground work; False if it cannot."""
        if path in self._signals:
            self._signals[path][1] += 1
            return True
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # no data dir to signal in: other processes simply do not yield
            return False
        for _ in range(3):  # a sync's probe holds it exclusively for a few microseconds
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            self._signals[path] = [fd, 1]
            return True
        os.close(fd)
        return False

    def update_claims(self) -> None:
        self.claimed = sum(worker.claim for worker in self.workers)
        self.cond.notify_all()


_REGISTRY = _Registry()


@contextlib.contextmanager
def foreground(name: str, signal: Path | None = None) -> Iterator[None]:
    """Run the block as interactive work: background work parks at its next yield point (in
    other processes too when ``signal`` names the library's ``signal_file``)."""
    token = _REGISTRY.enter(name, signal)
    try:
        yield
    finally:
        _REGISTRY.leave(token)


def active() -> list[str]:
    """Names of the foreground work running in this process now."""
    with _REGISTRY.cond:
        return [name for name, _ in _REGISTRY.active.values()]


def wait_idle(timeout: float) -> bool:
    """Wait until no foreground work runs in this process; False if some still does after
    ``timeout`` seconds. Telemetry export waits so, never competing with an answer's threads."""
    with _REGISTRY.cond:
        return _REGISTRY.cond.wait_for(lambda: not _REGISTRY.active, timeout)


def settle(timeout: float = SETTLE_S) -> bool:
    """Inside ``foreground``: wait until background work in this process has parked (or taken
    a starved turn); False if some is still mid-step after ``timeout`` seconds."""
    with _REGISTRY.cond:
        return _REGISTRY.cond.wait_for(
            lambda: all(w.state != WORKING for w in _REGISTRY.workers), timeout
        )


def free_threads(ceiling: int) -> int:
    """Threads the chat model may use now: the cores background work leaves, at most
    ``ceiling`` and at least one."""
    return max(1, min(ceiling, cpu_cores() - _REGISTRY.claimed))


class Background:
    """One run of background work (a sync) that yields to foreground work; use as a context
    manager and call ``wait_for_turn`` between steps."""

    def __init__(
        self,
        *,
        threads: int,
        max_pause_s: float = MAX_PAUSE_S,
        signal: Path | None = None,
        turn_s: float = TURN_S,
    ) -> None:
        self.full_threads = threads
        self.max_pause_s = max_pause_s
        self.turn_s = turn_s
        self.signal = signal
        self.state = WORKING
        self.pauses = 0  # times it parked
        self.turns = 0  # times the cap ended a pause while foreground work still ran
        self._free_until = 0.0  # end of its slice or turn: no yielding until then
        self._probe: int | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def threads(self) -> int:
        """Threads its embedding may use now: fewer during a starved turn, so that the chat
        model's and the embedder's threads never outnumber the cores."""
        if self.state == TURN:
            return max(1, min(self.full_threads, cpu_cores() // 2))
        return self.full_threads

    @property
    def claim(self) -> int:
        return 0 if self.state == PARKED else self.threads

    def __enter__(self) -> Background:
        if self.signal is not None:
            with contextlib.suppress(OSError):  # no data dir: only this process is seen
                self._probe = os.open(self.signal, os.O_RDWR | os.O_CREAT, 0o644)
        with _REGISTRY.cond:
            _REGISTRY.workers.add(self)
            _REGISTRY.update_claims()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with _REGISTRY.cond:
            _REGISTRY.workers.discard(self)
            _REGISTRY.update_claims()
        if self._probe is not None:
            os.close(self._probe)
            self._probe = None
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` on this sync's low-priority thread; threads it starts (onnxruntime's
        pool, made on first use) inherit the priority."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, "workbench-background", _lower_priority)
        return self._executor.submit(work).result()

    def wait_for_turn(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Park while foreground work runs, until it has all ended once (then work a slice),
        ``max_pause_s`` has passed (then take a turn) or ``should_stop``; True when it parked."""
        cond = _REGISTRY.cond
        with cond:
            if time.monotonic() < self._free_until:
                return False
            self._set(WORKING)
            if not self._busy():
                return False
            self._set(PARKED)
            self.pauses += 1
            epoch = _REGISTRY.idle_epoch
            deadline = time.monotonic() + self.max_pause_s
            while self._busy() and _REGISTRY.idle_epoch == epoch and not should_stop():
                left = deadline - time.monotonic()
                if left <= 0:
                    self.turns += 1
                    self._free_until = time.monotonic() + self.turn_s
                    self._set(TURN)
                    return True
                cond.wait(min(left, CHECK_S))
            self._free_until = time.monotonic() + SLICE_S
            self._set(WORKING)
            return True

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            _REGISTRY.update_claims()

    def _busy(self) -> bool:
        return bool(_REGISTRY.active) or self._foreign_busy()

    def _foreign_busy(self) -> bool:
        """Whether another process holds the signal (a sync can only probe a flock)."""
        if self._probe is None:
            return False
        try:
            fcntl.flock(self._probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._probe, fcntl.LOCK_UN)
        return False


def _lower_priority() -> None:
    """Renice the calling thread (Linux only: elsewhere niceness is per process)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):  # a sandbox that forbids it: normal priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
