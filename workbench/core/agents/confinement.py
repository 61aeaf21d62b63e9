"""Where an agent's tools may reach: files inside the library's folders, nothing else.

Every path a tool is given is resolved the way the operating system would open it (``..``
collapsed, symlinks followed to their target) and must then lie inside a library folder (or
a folder the user allowed links into, ``allow_link_targets``), compared by whole path
components, so ``/notes-evil`` is not inside ``/notes``. The folders are read again for every
path, so a folder removed mid-run is out of bounds at once. A refusal is a ``ToolError`` whose
message tells the model what to do instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from workbench.errors import WorkbenchError


class ToolError(WorkbenchError):
    """A tool call that cannot be done as asked; the message goes back to the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "Tool refused")


class Confinement:
    """Resolves paths for tools, refusing any that lead outside ``roots()``."""

    def __init__(self, roots: Callable[[], list[str]]) -> None:
        self._roots = roots

    def roots(self) -> list[Path]:
        return [Path(os.path.realpath(root)) for root in self._roots()]

    def resolve(self, raw: str) -> Path:
        """The real path of ``raw`` (absolute, or relative to exactly one library folder),
        if it lies inside the library; else ``ToolError``."""
        roots = self.roots()
        if not roots:
            raise ToolError("The library has no folders, so there are no files to use.")
        if not raw.strip() or "\x00" in raw:
            raise ToolError("Give a file path, as search or list_files showed it.")
        wanted = Path(raw.strip()).expanduser()
        if not wanted.is_absolute():
            found = [root / wanted for root in roots if (root / wanted).exists()]
            if len(found) != 1:
                raise ToolError(
                    f"'{raw}' is not a full path. Use the full path as search or list_files "
                    f"showed it (it starts with {roots[0]})."
                )
            wanted = found[0]
        real = Path(os.path.realpath(wanted))
        if not any(real == root or real.is_relative_to(root) for root in roots):
            raise ToolError(
                f"'{raw}' is outside the library, so it cannot be used. Only files inside "
                f"these folders can: {', '.join(map(str, roots))}."
            )
        return real

    def inside(self, path: str) -> bool:
        try:
            self.resolve(path)
        except ToolError:
            return False
        return True
