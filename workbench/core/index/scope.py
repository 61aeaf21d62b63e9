"""Which paths a sync or a watch covers: pure string helpers, no disk access.

Kept apart from ``sync`` so the watcher's poller and the facade can ask "is this inside
that folder?" without importing the store and the extractors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def under(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or lies below one."""
    return in_scope(path.rstrip(os.sep) or os.sep, {r.rstrip(os.sep) or os.sep for r in roots})


def in_scope(path: str, targets: set[str]) -> bool:
    """Whether ``path`` is one of ``targets`` or lies below one (walks up, no string scans)."""
    while True:
        if path in targets:
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


def minimal_scope(paths: Sequence[str]) -> list[str]:
    """``paths`` without those inside another of them (a folder covers its files)."""
    unique = set(paths)
    return sorted(
        p for p in unique if os.path.dirname(p) == p or not in_scope(os.path.dirname(p), unique)
    )
