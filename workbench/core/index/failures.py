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
import re
from collections.abc import Callable, Iterator
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from workbench.core.index.location import Location
from workbench.errors import (
    DiskFullError,
    StoreDamagedError,
    StoreUnreachableError,
    WorkbenchError,
)

P = ParamSpec("P")
R = TypeVar("R")


class HasIndex(Protocol):
    @property
    def location(self) -> Location: ...


S = TypeVar("S", bound=HasIndex)

_DISK_FULL = ("no space left on device", "disk quota exceeded", "os error 28")
# An object store's failures, as LanceDB (object_store) and pyarrow word them.
_OBJECT_STORE = ('store: "S3"', "AWS Error", "S3 error", "When getting information for key",
                 "When listing objects", "When reading information")  # fmt: skip
_DAMAGE = ("lance error", "lanceerror", "not found:", "corrupt", "failed to fill whole buffer")


def translate(exc: BaseException, location: Location) -> WorkbenchError | None:
    """The WorkbenchError that explains ``exc``, or None when it is not a known failure."""
    if isinstance(exc, WorkbenchError):
        return None
    text = str(exc)
    lowered = text.lower()
    if location.local is None and any(marker in text for marker in _OBJECT_STORE):
        return StoreUnreachableError(location, object_store_problem(text))
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
        marker in lowered for marker in _DISK_FULL
    ):
        return DiskFullError(location, first_line(text))
    damaged = "lance" in lowered and any(marker in lowered for marker in _DAMAGE)
    if damaged and isinstance(exc, RuntimeError | OSError | ValueError):
        return StoreDamagedError(location, first_line(text))
    return None


@contextlib.contextmanager
def explained(location: Location) -> Iterator[None]:
    """Re-raise known low-level failures inside the block as WorkbenchErrors."""
    try:
        yield
    except (RuntimeError, OSError, ValueError) as exc:
        error = translate(exc, location)
        if error is None:
            raise
        raise error from exc


def explaining(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """``explained`` around a method of a service whose index is at ``self.location``."""

    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with explained(self.location):
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


def object_store_problem(text: str) -> str:
    """What an object store said, in a few words: its error code, or the connection error."""
    code = re.search(r"<Code>([^<]+)</Code>(?:<Message>([^<]+)</Message>)?", text)
    if code:
        return f"{code.group(1)} ({code.group(2)})" if code.group(2) else code.group(1)
    if "BadScheme" in text:
        return "the endpoint is http:// but AWS_ALLOW_HTTP is not true"
    for marker in ("Connection refused", "dns error", "timed out", "certificate", "error 403",
                   "AWS Error ACCESS_DENIED", "AWS Error NETWORK_CONNECTION"):  # fmt: skip
        if marker.lower() in text.lower():
            return marker
    kind = re.search(r"HttpError \{ kind: (\w+)", text)
    if kind:
        return f"HTTP error ({kind.group(1)})"
    status = re.search(r"status: (\d{3})", text)
    return f"HTTP status {status.group(1)}" if status else first_line(text).split(" {")[0]


def first_line(text: str) -> str:
    """The first line of an error's text, without Rust source locations, at most 300 chars."""
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    # Rust panics append the source location of the library: not for people.
    return line.split(", /rustc/")[0][:300]
