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


def _explained(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turns a damaged index or a full disk met inside ``method`` into a WorkbenchError that
    says what to do (`workbench repair`, free space), for every front end alike."""

    @functools.wraps(method)
    def wrapper(self: Workbench, *args: Any, **kwargs: Any) -> Any:
        from workbench.core.index.failures import explained

        with explained(self.paths.db_dir):
            return method(self, *args, **kwargs)

    return wrapper


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
        from workbench.core.extraction.registry import ExtractorRegistry
        from workbench.plugins import collect_objects

        registry = ExtractorRegistry(collect_objects(self.plugins, "register_extractors"))
        registry.configure(self.settings, self.paths)  # OCR language, page cap, thumbnail cache
        return registry

    @functools.cached_property
    def store(self) -> Any:
        from datetime import timedelta

        from workbench.core.index.store import Store

        return Store(
            self.paths.db_dir,
            self.embedder.dim,
            self.paths.lock_file,
            keep_versions=timedelta(days=self.settings.index_history_days),
        )

    @functools.cached_property
    def syncer(self) -> Any:
        from workbench.core.index.sync import Syncer

        return Syncer(self.store, self.registry, self.embedder, self.settings)

    # -- folders ----------------------------------------------------------------------------
    @_explained
    def folders(self) -> list[str]:
        return self.store.folders()

    @_explained
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
        from workbench.core.index.scanning import display_path
        from workbench.core.index.sync import under

        if display_path(text) != text:
            raise WorkbenchError(
                f"The path {display_path(text)} is not valid UTF-8, so its files could not be "
                "stored or shown reliably. Rename the folder (e.g. `convmv -f latin1 -t utf-8`) "
                "and add it again.",
                "Cannot add folder",
            )

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

    @_explained
    def remove_folder(self, path: str | os.PathLike[str]) -> int:
        """Unregister a folder and purge its files from the index; returns files purged."""
        text = str(Path(path).expanduser().absolute())
        if text not in self.folders():
            raise WorkbenchError(
                f"{text} is not a library folder. Library folders: "
                f"{', '.join(self.folders()) or 'none'} (see `workbench folders`).",
                "Not in library",
            )
        from workbench.core.index.sync import under

        with self.store.writing():
            records = self.store.file_records()
            purged = [p for p in records if under(p, [text])]
            self.store.delete_files(purged)
            self.store.remove_folder(text)
            self.store.refresh_indexes()
        return len(purged)

    @_explained
    def file_states(self, folder: str) -> list[dict[str, Any]]:
        """Every file of ``folder`` with its status: indexed, failed, skipped, or pending
        (on disk but not yet synced, or changed or deleted since the last sync)."""
        from workbench.core.index.scanning import LinkPolicy, scan_folder
        from workbench.core.index.sync import under

        records = {p: r for p, r in self.store.file_records().items() if under(p, [folder])}
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        links = LinkPolicy.for_folders(
            self.folders(), self.settings.allow_link_targets, self.settings.follow_symlinks
        )
        entries = scan_folder(folder, self.syncer.rules, links=links)
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

    @_explained
    def folder_summaries(self) -> list[dict[str, Any]]:
        from workbench.core.index.sync import under

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
    @_explained
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
            from workbench.core.index.sync import under

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
        self.check_library()
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
        from workbench.core.index.watcher import LibraryWatcher

        return LibraryWatcher(
            self.syncer,
            lock_file=self.paths.data_dir / "watch.lock",
            on_event=on_event,
            on_progress=on_progress,
            debounce_s=self.settings.watch_debounce_s,
            max_wait_s=self.settings.watch_max_wait_s,
        )

    # -- search and status ------------------------------------------------------------------
    @_explained
    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: str = "hybrid",
        kind: str | None = None,
        path_glob: str | None = None,
    ) -> list[Any]:
        from workbench.core.index.search import search

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

    @_explained
    def status(self) -> dict[str, Any]:
        self.check_library()
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

    @_explained
    def doctor(self) -> dict[str, Any]:
        """Coverage report: files per kind and status, OCR, no-text files, failures, engines."""
        from workbench.core.index.coverage import coverage_report

        problems = self.store.check(full=True)
        if problems:  # the coverage report cannot be trusted: say only what is wrong
            return {"library": {"damaged": True, "problems": problems}}
        report = coverage_report(self.store.file_records().values(), self.registry.engines())
        report["library"] = {"damaged": False, "problems": []}
        report["settings"] = {
            "ocr_engine": self.settings.ocr_engine,
            "ocr_language": self.settings.ocr_language,
            "ocr_max_pages": self.settings.ocr_max_pages,
        }
        return report

    def check_library(self) -> None:
        """Raise StoreDamagedError when a table of the index cannot be read back (quick)."""
        from workbench.errors import StoreDamagedError

        problems = self.store.check()
        if problems:
            raise StoreDamagedError(self.paths.db_dir, "; ".join(problems))

    def repair(
        self,
        *,
        on_progress: Callable[[Any], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> dict[str, Any]:
        """Rebuild the index from the files in the library's folders.

        The folder list, cached vectors and answer log are kept where they can be read; the
        damaged index is moved aside (its path is in the result) and a sync rebuilds the rest.
        """
        from workbench.core.index.repair import restore, salvage, set_aside

        store = self.store
        with store.writing(timeout=30):
            problems = store.check(full=True)
            saved = salvage(store)
            aside = set_aside(self.paths.db_dir)
            for name in ("store", "syncer", "answer_log"):  # built on the old index
                self.__dict__.pop(name, None)
            restore(self.store, saved)
        result: dict[str, Any] = {
            "problems": problems,
            "damaged_copy": str(aside),
            "salvaged": saved.counts(),
            "folders": saved.folders,
            "sync": None,
        }
        if saved.folders:
            report = self.ingest(on_progress=on_progress, should_stop=should_stop)
            result["sync"] = report.as_json()
        return result

    # -- chat models and grounded answers -----------------------------------------------------
    @functools.cached_property
    def backends(self) -> dict[str, Any]:
        """Chat backend factories by name (built-in llama.cpp, plus plugins)."""
        from workbench.plugins import collect_named

        return {name: factory for name, (factory, _) in collect_named(
            self.plugins, "register_backends").items()}  # fmt: skip

    def backend(self, name: str) -> Any:
        """The backend called ``name``, created once per Workbench."""
        cache = self.__dict__.setdefault("_backend_objects", {})
        if name not in cache:
            if name not in self.backends:
                raise WorkbenchError(
                    f"No chat backend named '{name}'. Installed: {', '.join(sorted(self.backends))}"
                    ". Install the plugin that provides it, or pick another model.",
                    title="Unknown backend",
                )
            cache[name] = self.backends[name]()
        return cache[name]

    def models(self) -> list[Any]:
        """Every chat model Workbench can run, the default one marked, read from GGUF headers."""
        from workbench.core.answering.models import ModelState, discover

        state = ModelState.load(self.paths.models_state_file)
        models = discover(
            self.paths.models_dir, state.added or [], scan_caches=self.settings.scan_model_caches
        )
        default = self._default_model_name(state)
        for model in models:
            model.default = model.name.lower() == default.lower()
        return models

    def _default_model_name(self, state: Any) -> str:
        from workbench.core.answering.models import BUNDLED_NAME

        return self.settings.chat_model or state.default or BUNDLED_NAME

    def model(self, name: str | None = None) -> Any:
        """The ModelInfo for ``name`` (a model name or a .gguf path), or the default model."""
        from workbench.core.answering.models import ModelState, find

        models = self.models()
        wanted = name or self._default_model_name(ModelState.load(self.paths.models_state_file))
        model = find(models, wanted)
        if model.error:
            raise WorkbenchError(
                f"The model '{model.name}' cannot be used: {model.error}", "Model unusable"
            )
        return model

    def use_model(self, name: str) -> Any:
        """Make ``name`` the default chat model (remembered across runs)."""
        from workbench.core.answering.models import ModelState

        model = self.model(name)
        state = ModelState.load(self.paths.models_state_file)
        state.default = model.name
        state.save(self.paths.models_state_file)
        model.default = True
        return model

    def add_model(self, path: str | os.PathLike[str]) -> Any:
        """Register a GGUF file where it is (nothing is copied); returns its ModelInfo."""
        from workbench.core.answering.gguf import read_header
        from workbench.core.answering.models import ModelState

        file = Path(path).expanduser().absolute()
        if not file.is_file():
            raise WorkbenchError(
                f"{file} is not a file. Give the path of a .gguf model file.", "Cannot add model"
            )
        read_header(file)  # refuses anything that is not a readable GGUF, with the reason
        state = ModelState.load(self.paths.models_state_file)
        if str(file) not in (state.added or []):
            state.added = [*(state.added or []), str(file)]
            state.save(self.paths.models_state_file)
        return next(m for m in self.models() if os.path.realpath(m.path) == os.path.realpath(file))

    def chat_model(self, name: str | None = None) -> Any:
        """The loaded chat model (loaded once per process, then reused)."""
        model = self.model(name)
        return self.backend(model.backend).load(model, self.settings)

    @functools.cached_property
    def answer_log(self) -> Any:
        from workbench.core.answering.answers import AnswerLog

        return AnswerLog(self.store)

    @_explained
    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        model: str | None = None,
        on_token: Callable[[str], None] = lambda text: None,
        on_progress: Callable[[Any], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> dict[str, Any]:
        """Answer ``question`` from the library with checked citations; the answer is logged.

        Returns the `workbench ask --json` record. Declines, without running the model, when
        nothing retrieved is relevant enough.
        """
        from workbench.core.answering.answers import build_record, new_answer_id
        from workbench.core.answering.chat import ChatParams
        from workbench.core.answering.models import file_sha256
        from workbench.core.answering.rag import AskProgress, answer_question, retrieve

        started = time.perf_counter()
        if not question.strip():
            raise WorkbenchError("The question is empty. Type a question to ask.", "Bad question")
        if self.store.chunk_count() == 0:
            raise WorkbenchError(
                "The library is empty, so there is nothing to answer from. Add a folder with "
                "`workbench add PATH` and run `workbench ingest`.",
                "Nothing to ask",
            )
        chosen = self.model(model)
        backend = self.backend(chosen.backend)
        settings = self.settings
        k = k or settings.answer_k
        embedder = self.embedder  # loads on first use: counted in setup_ms, not retrieve_ms
        setup_ms = (time.perf_counter() - started) * 1000
        index_version = self.store.version()  # the index this answer is made from
        on_progress(AskProgress("retrieve"))
        retrieval = retrieve(
            self.store, embedder, question, k=k, rrf_k=settings.rrf_k,
            vector_cache=self.__dict__.setdefault("_window_vectors", {}),
        )  # fmt: skip
        params = ChatParams(
            max_tokens=settings.max_answer_tokens, temperature=settings.temperature,
            seed=settings.seed, repeat_penalty=settings.repeat_penalty,
        )  # fmt: skip
        answer = answer_question(
            question, retrieval, lambda: backend.load(chosen, settings), params, embedder,
            min_relevance=settings.min_relevance, support_threshold=settings.support_threshold,
            on_token=on_token, on_progress=on_progress, should_stop=should_stop, started=started,
        )  # fmt: skip
        hashes = self.paths.cache_dir / "model-hashes.json"
        record = build_record(
            answer,
            answer_id=new_answer_id(),
            model=chosen,
            model_sha256=file_sha256(chosen.path, hashes) if answer.completion else None,
            backend=backend.name,
            index_version=index_version,
            params=self._answer_params(k, params, backend),
            total_ms=(time.perf_counter() - started) * 1000,
            setup_ms=setup_ms,
        )
        self.answer_log.add(record)
        return record

    def _answer_params(self, k: int, params: Any, backend: Any) -> dict[str, Any]:
        """Everything besides the question and index that decided an answer."""
        settings = self.settings
        return {
            "k": k,
            **params.__dict__,
            "context_size": settings.context_size,
            "threads": settings.threads,
            "gpu_layers": settings.gpu_layers,
            "min_relevance": settings.min_relevance,
            "support_threshold": settings.support_threshold,
            "runtime": backend.describe(),
        }

    @_explained
    def answers(self, limit: int | None = 20) -> list[dict[str, Any]]:
        """Logged answers, newest first."""
        return self.answer_log.recent(limit)

    @_explained
    def answer(self, answer_id: str) -> dict[str, Any]:
        """The full logged record of one answer (an id or a unique prefix of one)."""
        return self.answer_log.get(answer_id)
