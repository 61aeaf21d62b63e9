"""Receipts: what library text went to which remote backend, so "what did I send where?"
has an answer.

The transport makes a receipt for each request that carries library text. Who asked for it
decides where receipts go, without threading them through every call: an answer wraps its
work in ``collecting()`` and gets every receipt made inside (the answer log keeps them), and
``describing(chunks=...)`` adds what the caller knows and the protocol code does not (which
chunks the text came from) to each receipt made inside it. Both are context variables, so
two answers on two threads never see each other's receipts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

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
