"""Low-level failures turned into messages a person can act on.

LanceDB reports a damaged table (a truncated or missing data file) as a RuntimeError or
OSError whose text starts "lance error"; a full disk as ENOSPC, sometimes wrapped the same way.
``translate`` names them; the facade applies it to everything it does with the library.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

from workbench.errors import DiskFullError, StoreDamagedError, WorkbenchError

_DISK_FULL = ("no space left on device", "disk quota exceeded", "os error 28")
_DAMAGE = ("lance error", "lanceerror", "not found:", "corrupt", "failed to fill whole buffer")


def translate(exc: BaseException, db_dir: Path) -> WorkbenchError | None:
    """The WorkbenchError that explains ``exc``, or None when it is not a known failure."""
    if isinstance(exc, WorkbenchError):
        return None
    text = str(exc)
    lowered = text.lower()
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
        marker in lowered for marker in _DISK_FULL
    ):
        return DiskFullError(db_dir, first_line(text))
    damaged = "lance" in lowered and any(marker in lowered for marker in _DAMAGE)
    if damaged and isinstance(exc, RuntimeError | OSError | ValueError):
        return StoreDamagedError(db_dir, first_line(text))
    return None


@contextlib.contextmanager
def explained(db_dir: Path) -> Iterator[None]:
    """Re-raise known low-level failures inside the block as WorkbenchErrors."""
    try:
        yield
    except (RuntimeError, OSError, ValueError) as exc:
        error = translate(exc, db_dir)
        if error is None:
            raise
        raise error from exc


def first_line(text: str) -> str:
    """The first line of an error's text, without Rust source locations, at most 300 chars."""
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    # Rust panics append the source location of the library: not for people.
    return line.split(", /rustc/")[0][:300]
