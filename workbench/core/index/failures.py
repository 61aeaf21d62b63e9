"""Low-level failures turned into messages a person can act on.

LanceDB reports a damaged table (a truncated or missing data file) as a RuntimeError or
OSError whose text starts "lance error"; a full disk as ENOSPC, sometimes wrapped the same way.
``translate`` names them; the services apply it (``explaining``) to everything they do with
the library, so every front end and plugin gets the same advice.
"""

from __future__ import annotations

import contextlib
import errno
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from workbench.errors import DiskFullError, StoreDamagedError, WorkbenchError

P = ParamSpec("P")
R = TypeVar("R")


class HasIndex(Protocol):
    @property
    def db_dir(self) -> Path: ...


S = TypeVar("S", bound=HasIndex)

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


def explaining(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """``explained`` around a method of a service whose index is at ``self.db_dir``."""

    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with explained(self.db_dir):
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


def first_line(text: str) -> str:
    """The first line of an error's text, without Rust source locations, at most 300 chars."""
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    # Rust panics append the source location of the library: not for people.
    return line.split(", /rustc/")[0][:300]
