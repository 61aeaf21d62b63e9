"""Receipts: what library text went to which remote backend, so "what did I send where?"
has an answer.

The transport makes a receipt for each request that carries library text. Who asked for it
decides where receipts go, without threading them through every call: an answer wraps its
work in ``collecting()`` and gets every receipt made inside (the answer log keeps them), and
``describing(chunks=...)`` adds what the caller knows and the protocol code does not (which
chunks the text came from) to each receipt made inside it. Both are context variables, so
two answers on two threads never see each other's receipts.

Every finished receipt also goes to the ``Journal`` (``receipts.jsonl`` in the data dir), so
requests made outside an answer (a library embedded on a remote server) are on record too:
`workbench backends receipts` reads it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

JOURNAL_NAME = "receipts.jsonl"  # in the data dir
JOURNAL_MAX_BYTES = 8 * 2**20  # then the journal moves to receipts.jsonl.1 and starts again

_collected: ContextVar[list[Receipt] | None] = ContextVar("receipts", default=None)
_described: ContextVar[dict[str, Any]] = ContextVar("receipt_details", default={})  # noqa: B039


@dataclass
class Receipt:
    """One remote request that carried library text: where, when, what, and how it went."""

    backend: str
    host: str
    path: str
    started: str  # ISO time
    status: int | None  # the last HTTP status; None when no response came
    attempts: int
    bytes_sent: int
    sha256: str  # of the request body
    sent: dict[str, Any] = field(default_factory=dict)  # e.g. {"messages": 2, "chunks": [...]}
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def issued(receipt: Receipt) -> Receipt:
    """Hand a new receipt to whoever is collecting, with what they described added."""
    receipt.sent = {**receipt.sent, **_described.get()}
    collected = _collected.get()
    if collected is not None:
        collected.append(receipt)
    return receipt


@contextlib.contextmanager
def collecting() -> Iterator[list[Receipt]]:
    """Every receipt issued inside the block (in this context), in order."""
    receipts: list[Receipt] = []
    token = _collected.set(receipts)
    try:
        yield receipts
    finally:
        _collected.reset(token)


@contextlib.contextmanager
def describing(**details: Any) -> Iterator[None]:
    """Add ``details`` (JSON values) to the ``sent`` of every receipt issued inside."""
    token = _described.set({**_described.get(), **details})
    try:
        yield
    finally:
        _described.reset(token)


@dataclass
class Journal:
    """Finished receipts, one JSON line each, in ``path`` (the newest 8 MiB or so, and the
    8 MiB before them in ``path.1``)."""

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def write(self, receipt: Receipt) -> None:
        line = json.dumps(receipt.as_json(), ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size > JOURNAL_MAX_BYTES:
                self.path.replace(self.path.with_name(self.path.name + ".1"))
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The last ``limit`` receipts, newest first (a torn last line is left out)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            tail = deque(lines, maxlen=limit)
        found = []
        for line in reversed(tail):
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return found
