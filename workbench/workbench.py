"""The Workbench facade: the one object the CLI, the terminal UI and plugins call."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.errors import WorkbenchError
from workbench.paths import Paths, resolve_paths


def demo_library() -> Path:
    """The bundled demo library (in the wheel, or in the source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "assets" / "demo", here.parent / "assets" / "demo"):
        if candidate.is_dir():
            return candidate
    raise WorkbenchError(
        "The bundled demo library is missing. Reinstall Workbench.", "Demo missing"
    )


class Workbench:
    """Library operations over one data home. Heavy parts load on first use."""

    def __init__(
        self,
        paths: Paths | None = None,
        settings: Settings | None = None,
        plugin_manager: Any | None = None,
    ) -> None:
        self.paths = paths or resolve_paths()
        self.paths.ensure()
        self.settings = settings or Settings.load(self.paths.config_file)
        self._plugin_manager = plugin_manager

    # -- plugins and components ---------------------------------------------------------------
    @functools.cached_property
    def plugins(self) -> Any:
        if self._plugin_manager is not None:
            return self._plugin_manager
        from workbench.plugins import build_plugin_manager

        return build_plugin_manager(self.paths.plugins_dir)

    @functools.cached_property
    def embedder(self) -> Any:
        from workbench.plugins import collect_named

        embedders = collect_named(self.plugins, "register_embedders")
        name = self.settings.embedder
        if name not in embedders:
            raise WorkbenchError(
                f"No embedder named '{name}'. Installed: {', '.join(sorted(embedders))}. "
                "Set `embedder` in config.toml to one of them.",
                title="Unknown embedder",
            )
        return embedders[name][0]()

    @functools.cached_property
    def registry(self) -> Any:
        from workbench.core.registry import ExtractorRegistry
        from workbench.plugins import collect_objects

        registry = ExtractorRegistry(collect_objects(self.plugins, "register_extractors"))
        registry.configure(self.settings, self.paths)  # OCR language, page cap, thumbnail cache
        return registry

    @functools.cached_property
    def store(self) -> Any:
        from workbench.core.store import Store

        return Store(self.paths.db_dir, self.embedder.dim, self.paths.lock_file)

    @functools.cached_property
    def syncer(self) -> Any:
        from workbench.core.sync import Syncer

        return Syncer(self.store, self.registry, self.embedder, self.settings)

    # -- folders ----------------------------------------------------------------------------
    def folders(self) -> list[str]:
        return self.store.folders()

    def add_folder(self, path: str | os.PathLike[str]) -> str:
        """Register a folder; returns its absolute path. Nothing is indexed until ``ingest``."""
        folder = Path(path).expanduser().absolute()
        if not folder.exists():
            raise WorkbenchError(
                f"{folder} does not exist. Check the path and try again.", "Cannot add folder"
            )
        if not folder.is_dir():
            raise WorkbenchError(
                f"{folder} is a file. Add the folder that contains it instead.", "Cannot add folder"
            )
        text = str(folder)
        from workbench.core.sync import under

        existing = self.folders()
        covering = [f for f in existing if under(text, [f])]
        if covering:
            raise WorkbenchError(
                f"{text} is already in the library as part of {covering[0]}.", "Already added"
            )
        with self.store.writing():
            for inner in [f for f in existing if under(f, [text])]:
                self.store.remove_folder(inner)  # the new folder covers it; its files stay
            self.store.add_folder(text, time.time())
        return text

    def remove_folder(self, path: str | os.PathLike[str]) -> int:
        """Unregister a folder and purge its files from the index; returns files purged."""
        text = str(Path(path).expanduser().absolute())
        if text not in self.folders():
            raise WorkbenchError(
                f"{text} is not a library folder. Library folders: "
                f"{', '.join(self.folders()) or 'none'} (see `workbench folders`).",
                "Not in library",
            )
        from workbench.core.sync import under

        with self.store.writing():
            records = self.store.file_records()
            purged = [p for p in records if under(p, [text])]
            self.store.delete_files(purged)
            self.store.remove_folder(text)
            self.store.refresh_indexes()
        return len(purged)

    def file_states(self, folder: str) -> list[dict[str, Any]]:
        """Every file of ``folder`` with its status: indexed, failed, skipped, or pending
        (on disk but not yet synced, or changed or deleted since the last sync)."""
        from workbench.core.scanning import scan_folder
        from workbench.core.sync import under

        records = {p: r for p, r in self.store.file_records().items() if under(p, [folder])}
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        entries = scan_folder(
            folder, self.syncer.rules, follow_symlinks=self.settings.follow_symlinks
        )
        for entry in entries if os.path.isdir(folder) else []:
            seen.add(entry.path)
            record = records.get(entry.path)
            current = record is not None and (record.size, record.mtime_ns) == (
                entry.size,
                entry.mtime_ns,
            )
            rows.append(
                {
                    "path": entry.path,
                    "kind": record.kind if record else "",
                    "status": record.status if record and current else "pending",
                    "chunks": record.chunks if record and current else 0,
                    "reason": (record.reason if current else "changed on disk")
                    if record
                    else "not synced yet",
                }
            )
        for path, record in records.items():
            if path not in seen:
                missing = not os.path.isdir(folder)
                rows.append(
                    {
                        "path": path,
                        "kind": record.kind,
                        "status": record.status if missing else "pending",
                        "chunks": record.chunks,
                        "reason": "folder missing" if missing else "deleted on disk",
                    }
                )
        order = {"failed": 0, "pending": 1, "skipped": 2, "indexed": 3}
        return sorted(rows, key=lambda row: (order.get(row["status"], 9), row["path"]))

    def folder_summaries(self) -> list[dict[str, Any]]:
        from workbench.core.sync import under

        records = self.store.file_records()
        rows = []
        for folder in self.folders():
            mine = [r for p, r in records.items() if under(p, [folder])]
            rows.append(
                {
                    "path": folder,
                    "exists": os.path.isdir(folder),
                    "files": sum(r.status == "indexed" for r in mine),
                    "not_indexed": sum(r.status != "indexed" for r in mine),
                    "chunks": sum(r.chunks for r in mine),
                }
            )
        return rows

    # -- sync ---------------------------------------------------------------------------------
    def ingest(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        on_progress: Callable[[Any], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
        lock_timeout: float = 30.0,
    ) -> Any:
        """Incrementally sync every folder, or only ``path`` (a folder or file in the library).

        Waits up to ``lock_timeout`` seconds for another writer (`workbench watch`) to finish
        its batch before giving up with "Library busy".
        """
        folders = self.folders()
        if not folders:
            raise WorkbenchError(
                "The library has no folders yet. Add one with `workbench add PATH`.",
                "Nothing to sync",
            )
        scope = None
        if path is not None:
            from workbench.core.sync import under

            target = str(Path(path).expanduser().absolute())
            if not under(target, folders):
                raise WorkbenchError(
                    f"{target} is not inside a library folder. Add it first with "
                    f"`workbench add {target}`.",
                    "Not in library",
                )
            scope = [target]
        missing = [f for f in (scope or folders) if not os.path.exists(f)]
        if missing and scope:
            raise WorkbenchError(f"{missing[0]} does not exist.", "Nothing to sync")
        present = [f for f in folders if os.path.isdir(f)]
        report = self.syncer.sync(
            present,
            scope or present,
            on_progress=on_progress,
            should_stop=should_stop,
            lock_timeout=lock_timeout,
        )
        report.missing_folders = missing  # type: ignore[attr-defined]
        return report

    def watcher(
        self,
        on_event: Callable[[Any], None] = lambda event: None,
        on_progress: Callable[[Any], None] = lambda progress: None,
    ) -> Any:
        """A LibraryWatcher over every library folder; call ``run()`` (blocks) and ``stop()``."""
        from workbench.core.watcher import LibraryWatcher

        return LibraryWatcher(
            self.syncer,
            lock_file=self.paths.data_dir / "watch.lock",
            on_event=on_event,
            on_progress=on_progress,
            debounce_s=self.settings.watch_debounce_s,
            max_wait_s=self.settings.watch_max_wait_s,
        )

    # -- search and status ------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: str = "hybrid",
        kind: str | None = None,
        path_glob: str | None = None,
    ) -> list[Any]:
        from workbench.core.search import search

        return search(
            self.store,
            self.embedder,
            query,
            k=k or self.settings.search_k,
            mode=mode,
            kind=kind,
            path_glob=path_glob,
            rrf_k=self.settings.rrf_k,
        )

    def status(self) -> dict[str, Any]:
        records = self.store.file_records()
        by_status: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        for record in records.values():
            by_status[record.status] = by_status.get(record.status, 0) + 1
            if record.status == "indexed":
                by_kind[record.kind] = by_kind.get(record.kind, 0) + 1
        return {
            "files": by_status.get("indexed", 0),
            "chunks": self.store.chunk_count(),
            "failed": [
                {"path": r.path, "status": r.status, "reason": r.reason}
                for r in sorted(records.values(), key=lambda r: r.path)
                if r.status != "indexed"
            ],
            "version": self.store.version(),
            "folders": self.folders(),
            "by_status": by_status,
            "by_kind": by_kind,
            "embedder": self.settings.embedder,
        }

    def doctor(self) -> dict[str, Any]:
        """Coverage report: files per kind and status, OCR, no-text files, failures, engines."""
        from workbench.core.coverage import coverage_report

        report = coverage_report(self.store.file_records().values(), self.registry.engines())
        report["settings"] = {
            "ocr_language": self.settings.ocr_language,
            "ocr_max_pages": self.settings.ocr_max_pages,
        }
        return report
