"""Messages thread workers post to the app; ``@on`` handlers own the UI state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from workbench.core.index.sync import SyncProgress, SyncReport
    from workbench.core.index.watcher import WatchEvent


class SyncProgressed(Message):
    """A sync (watcher or "Sync now") moved on; floods coalesce to the latest one."""

    def __init__(self, progress: SyncProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SyncProgressed)


class WatchEventReceived(Message):
    """The watcher did something: a batch, a folder going missing or coming back."""

    def __init__(self, event: WatchEvent) -> None:
        super().__init__()
        self.event = event


class SyncFinished(Message):
    """A "Sync now" finished."""

    def __init__(self, report: SyncReport) -> None:
        super().__init__()
        self.report = report


class WorkFailed(Message):
    """A worker hit a WorkbenchError (or worse): shown as a notification with a title."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title = title
        self.message = message


class LibraryChanged(Message, bubble=False):
    """Folders were added or removed, or files indexed: views showing them refresh.

    The app forwards it to the screen on view, so it must not bubble back to the app (that
    would be an endless forward-reload loop). Textual's ``Message.__init_subclass__`` sets
    ``bubble`` from its keyword, so it is given there: a ``bubble = False`` in the class
    body is overwritten by the keyword's default, True.
    """
