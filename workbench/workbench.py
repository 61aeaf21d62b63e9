"""The Workbench facade: the one object the CLI, the terminal UI and plugins call.

A composition root: it builds the core services (library, models, answers) from the settings
and plugins on first use and hands each call to the service that owns it. Results are typed
records; their ``as_json()`` is what each command prints.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.errors import WorkbenchError
from workbench.paths import Paths, demo_library, resolve_paths

if TYPE_CHECKING:
    import pluggy

    from workbench.core.agents.runner import AgentRunner
    from workbench.core.answering.catalog import ModelCatalog
    from workbench.core.answering.chat import Completion
    from workbench.core.answering.models import ModelInfo
    from workbench.core.answering.rag import AskProgress
    from workbench.core.answering.records import AnswerRecord, AnswerSummary
    from workbench.core.answering.replay import ReplayResult
    from workbench.core.answering.service import Answerer
    from workbench.core.evaluation import Evaluator
    from workbench.core.extraction.registry import ExtractorRegistry
    from workbench.core.forgetting import Forgotten
    from workbench.core.index import records
    from workbench.core.index.history import AsOf, IndexVersion
    from workbench.core.index.library import Library
    from workbench.core.index.location import Location
    from workbench.core.index.search import SearchResult
    from workbench.core.index.sync import SyncProgress, SyncReport
    from workbench.core.index.watcher import LibraryWatcher, WatchEvent
    from workbench.core.lineage import Lineage
    from workbench.core.protocols import Embedder
    from workbench.core.telemetry.export import Exporting
    from workbench.core.telemetry.stats import Stats


def pipeline_parts(paths: Paths, settings: Settings) -> tuple[ExtractorRegistry, Embedder]:
    """The extractors and embedder of a Workbench on ``paths`` with ``settings``: how each
    Ray worker builds its own (``engines.RayEngine``)."""
    workbench = Workbench(paths, settings)
    return workbench.registry, workbench.embedder


def load_plugins() -> pluggy.PluginManager:
    """The plugins of this data home: built-ins, installed distributions, loose plugin files."""
    from workbench.plugins import build_plugin_manager

    return build_plugin_manager(resolve_paths().plugins_dir)


class Workbench:
    """Library operations over one data home. Heavy parts load on first use."""

    def __init__(
        self,
        paths: Paths | None = None,
        settings: Settings | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self.paths = paths or resolve_paths()
        self.paths.ensure()
        self.settings = settings or Settings.load(self.paths.config_file)
        self._plugin_manager = plugin_manager

    @functools.cached_property
    def plugins(self) -> pluggy.PluginManager:
        from workbench.plugins import build_plugin_manager

        return self._plugin_manager or build_plugin_manager(self.paths.plugins_dir)

    @functools.cached_property
    def embedder(self) -> Embedder:
        """The built-in or a plugin's embedder, or a [backends.NAME] block's server."""
        from workbench.plugins import create_embedder

        if self.settings.embedder in self.settings.backends:
            return self.catalog.embedder(self.settings.embedder)  # type: ignore[no-any-return]
        return create_embedder(self.plugins, self.settings.embedder)

    @functools.cached_property
    def registry(self) -> ExtractorRegistry:
        from workbench.core.extraction.registry import ExtractorRegistry
        from workbench.plugins import collect_objects

        registry = ExtractorRegistry(collect_objects(self.plugins, "register_extractors"))
        registry.configure(self.settings, self.paths)  # OCR language, page cap, thumbnail cache
        return registry

    @functools.cached_property
    def location(self) -> Location:
        """Where the library's tables live: the ``library_uri`` setting, else the data folder.
        In offline mode a library in object storage off this machine is refused."""
        from workbench.core.index.location import Location

        uri = self.settings.library_uri.strip()
        location = Location.parse(uri or self.paths.db_dir, self.settings.library_storage_options)
        if self.settings.offline and not location.on_this_machine():
            raise WorkbenchError(
                f"Offline mode is on, and the library is at {location} (endpoint "
                f"{location.endpoint}), off this machine. Turn offline mode off, or point "
                "library_uri at a folder or an endpoint on 127.0.0.1.",
                "Offline",
            )
        return location

    @functools.cached_property
    def library(self) -> Library:
        from workbench.core.index.library import Library

        return Library(
            self.location, self.paths.lock_file, self.registry, self.embedder, self.settings
        )

    def where(self) -> dict[str, str]:
        """Where Workbench keeps its config, library and caches (`workbench paths`)."""
        return self.paths.as_dict() | {"library_db": str(self.location)}

    @functools.cached_property
    def catalog(self) -> ModelCatalog:
        from workbench.core.answering.catalog import ModelCatalog
        from workbench.plugins import collect_named

        backends = collect_named(self.plugins, "register_backends")
        return ModelCatalog(self.paths, self.settings, {n: f for n, (f, _) in backends.items()})

    @functools.cached_property
    def answerer(self) -> Answerer:
        from workbench.core.answering.service import Answerer

        return Answerer(self.library, self.catalog)

    @functools.cached_property
    def evaluator(self) -> Evaluator:
        """Benchmarks (`workbench eval`), each on an index of its own under the cache dir."""
        from workbench.core.evaluation import Evaluator

        return Evaluator(
            self.paths.cache_dir / "eval", self.registry, self.embedder, self.settings, self.catalog
        )

    @functools.cached_property
    def agents(self) -> AgentRunner:
        """Agent runs (`workbench agent`): the plugins' tools, the built-in ones among them."""
        from workbench.core.agents.runner import AgentRunner
        from workbench.plugins import collect_tools

        tools = {name: tool for name, (tool, _) in collect_tools(self.plugins).items()}
        return AgentRunner(self.library, self.catalog, tools)

    def start_telemetry(
        self, metrics_port: int | None = None, *, long_running: bool = False
    ) -> Exporting:
        """Export traces and metrics as the OTEL_EXPORTER_OTLP_* variables say, and serve
        Prometheus /metrics on 127.0.0.1 at ``metrics_port`` (a long-running front end, the
        TUI or `watch`, uses the ``metrics_port`` setting when none is given). Once per
        process; by default nothing is exported."""
        from workbench.core.telemetry.export import configure

        if metrics_port is None:
            metrics_port = self.settings.metrics_port if long_running else 0
        return configure(metrics_port=metrics_port, offline=self.settings.offline)

    def stats(self, days: int = 30) -> Stats:
        """Answers, first-token times, groundedness, declines, failures and syncs over the
        last ``days`` days, from the answer log and the sync history."""
        from workbench.core.telemetry.stats import summarise

        return summarise(self.library.store, days=days)

    def read(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> dict[str, Any]:
        """A file's indexed passages (those overlapping lines ``start_line``-``end_line`` when
        given): {"path", "lines", "passages": [{"ordinal", "locator", "text"}]}. The path is
        resolved as the OS would open it (links followed) and must lie inside the library;
        anything else is refused with a message."""
        from workbench.core.agents.confinement import Confinement
        from workbench.core.agents.tools import read_passages

        library, allowed = self.library, self.settings.allow_link_targets
        confinement = Confinement(lambda: library.folders() + list(allowed))
        return read_passages(library, confinement, path, start_line, end_line)

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: Callable[[str], None] = lambda text: None,
    ) -> Completion:
        """A chat model's reply to ``messages`` without the library (no retrieval, no
        checks), as foreground work: syncs pause while it runs."""
        from workbench.core.answering.chat import ChatParams
        from workbench.core.foreground import foreground, signal_file

        settings = self.settings
        params = ChatParams(
            max_tokens=max_tokens or settings.max_answer_tokens,
            temperature=settings.temperature if temperature is None else temperature,
            seed=settings.seed, repeat_penalty=settings.repeat_penalty,
        )  # fmt: skip
        chat = self.catalog.load(model)
        with foreground("ask", signal_file(self.paths.lock_file)):
            return chat.chat(messages, params, on_token=on_token)  # type: ignore[no-any-return]

    def plugin_list(self) -> list[dict[str, Any]]:
        """Loaded plugins, how each was loaded and the hooks it implements."""
        from workbench.plugins import describe_plugins

        return describe_plugins(self.plugins)

    def folders(self) -> list[str]:
        return self.library.folders()

    def add_folder(self, path: str | os.PathLike[str]) -> str:
        """Register a folder; returns its absolute path. Nothing is indexed until ``ingest``."""
        return self.library.add_folder(path)

    def add_demo(self) -> str:
        """Put the bundled demo library in the library (if it is not there); returns its path."""
        from workbench.core.index.scope import under

        folder = str(demo_library())
        if not under(folder, self.folders()):  # added, or inside an added folder
            self.add_folder(folder)
        return folder

    def remove_folder(self, path: str | os.PathLike[str]) -> int:
        """Unregister a folder and purge its files from the index; returns files purged."""
        return self.library.remove_folder(path)

    def file_states(self, folder: str) -> list[records.FileState]:
        return self.library.file_states(folder)

    def folder_summaries(self) -> list[records.FolderSummary]:
        return self.library.folder_summaries()

    def ingest(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        on_progress: Callable[[SyncProgress], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
        lock_timeout: float = 30.0,
        engine: str = "local",
        address: str = "",
    ) -> SyncReport:
        """Incrementally sync every folder, or only ``path`` (a folder or file in the library).

        ``engine`` "ray" reads, extracts and embeds the changed files as Ray tasks, on this
        machine or on the cluster at ``address``; the scan, the diff and every commit stay
        here, so the index is the same as the local engine's."""
        from workbench.core.index.engines import create_engine

        runner = create_engine(
            engine, pipeline_parts, self.paths, self.settings, self.embedder.id, address
        )
        try:
            return self.library.ingest(
                path, on_progress=on_progress, should_stop=should_stop,
                lock_timeout=lock_timeout, engine=runner,
            )  # fmt: skip
        finally:
            runner.close()

    def watcher(
        self,
        on_event: Callable[[WatchEvent], None] = lambda event: None,
        on_progress: Callable[[SyncProgress], None] = lambda progress: None,
    ) -> LibraryWatcher:
        """A LibraryWatcher over every library folder; call ``run()`` (blocks) and ``stop()``."""
        return self.library.watcher(self.paths.data_dir / "watch.lock", on_event, on_progress)

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: str = "hybrid",
        kind: str | None = None,
        path_glob: str | None = None,
        as_of: str | None = None,
    ) -> list[SearchResult]:
        """Search the library, or the library as it was at ``as_of`` (version, tag, time)."""
        past = self.library.resolve(as_of) if as_of else None
        return self.library.search(
            query, k=k, mode=mode, kind=kind, path_glob=path_glob, as_of=past
        )

    def resolve_version(self, asked: str) -> AsOf:
        """The past index a version number, tag or ISO time names."""
        return self.library.resolve(asked)

    def versions(self, every: bool = False) -> list[IndexVersion]:
        """Kept index versions, newest first, with what changed and their tags."""
        return self.library.versions(every)

    def history_usage(self) -> dict[str, Any]:
        """Disk taken by old versions, by the index itself, and the history budget (bytes)."""
        return self.library.history_usage()

    def tag(self, name: str, version: str | None = None) -> AsOf:
        """Pin an index version (default: the current one) so it is kept until untagged."""
        return self.library.tag(name, version)

    def untag(self, name: str) -> int:
        """Remove a tag; returns the version it pinned."""
        return self.library.untag(name)

    def source_lines(self, result: SearchResult) -> list[str] | None:
        """The current lines of a text hit's file, or None if it cannot be read any more."""
        from workbench.core.extraction.textdecode import read_lines

        return read_lines(result.path)

    def status(self) -> records.LibraryStatus:
        return self.library.status()

    def doctor(self) -> records.DoctorReport:
        """Coverage report: files per kind and status, OCR, no-text files, failures, engines."""
        return self.library.doctor()

    def repair(
        self,
        *,
        on_progress: Callable[[SyncProgress], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> records.RepairResult:
        """Rebuild the index from the library's folders; the damaged one is moved aside."""
        return self.library.repair(on_progress=on_progress, should_stop=should_stop)

    def models(self) -> list[ModelInfo]:
        """Every chat model Workbench can run, the default one marked."""
        return self.catalog.models()

    def model(self, name: str | None = None) -> ModelInfo:
        """The model called ``name`` (a name or a .gguf path), or the default model."""
        return self.catalog.model(name)

    def listed_model(self, name: str) -> ModelInfo:
        """The model ``models()`` lists as ``name``; never a file path (``model`` also takes
        a .gguf path, for the CLI): a service's clients must not name files to open."""
        models = self.models()
        found = next((info for info in models if info.name == name), None)
        if found is None:
            raise WorkbenchError(
                f"No model named '{name}'. Models: {', '.join(m.name for m in models)}.",
                "Unknown model",
            )
        return found

    def use_model(self, name: str) -> ModelInfo:
        """Make ``name`` the default chat model (remembered across runs)."""
        return self.catalog.use(name)

    def add_model(self, path: str | os.PathLike[str]) -> ModelInfo:
        """Register a GGUF file where it is (nothing is copied)."""
        return self.catalog.add(path)

    def chat_model(self, name: str | None = None) -> Any:
        """The loaded chat model (loaded once per process, then reused)."""
        return self.catalog.load(name)

    def runtimes(self) -> dict[str, dict[str, Any]]:
        """What each chat backend says about itself (version, GPU offload, loaded models)."""
        return self.catalog.runtimes()

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        model: str | None = None,
        on_token: Callable[[str], None] = lambda text: None,
        on_progress: Callable[[AskProgress], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
        as_of: str | None = None,
    ) -> AnswerRecord:
        """Answer ``question`` from the library with checked citations; the answer is logged.
        With ``as_of`` (version, tag or ISO time) it is made from the library as it was."""
        return self.answerer.ask(
            question, k=k, model=model, on_token=on_token, on_progress=on_progress,
            should_stop=should_stop, as_of=as_of,
        )  # fmt: skip

    def forget(self, path: str | os.PathLike[str], *, match: str | None = None) -> Forgotten:
        """Remove a file or folder (only files whose text holds ``match``) from the index,
        every kept version and tag, the caches and the logs; verified, with a receipt."""
        from workbench.backends.remote.receipts import JOURNAL_NAME
        from workbench.core.agents.runner import AGENT_RUNS
        from workbench.core.answering.answers import ANSWERS
        from workbench.core.forgetting import Logs

        journal = self.paths.data_dir / JOURNAL_NAME
        logs = Logs(
            journals=[journal, journal.with_name(journal.name + ".1")],
            thumbnails=self.paths.cache_dir / "thumbnails",
            receipts_dir=self.paths.data_dir / "deletions",
            log_tables=[ANSWERS, AGENT_RUNS],
        )
        return self.library.forget(path, match, logs)

    def lineage(self, path: str | os.PathLike[str]) -> Lineage:
        """Where a file's index rows came from (hash, extractor, engines, chunker, embedder),
        the versions in which it changed, and the answers that used it."""
        from pathlib import Path

        from workbench.core.index.failures import explained
        from workbench.core.lineage import lineage

        target = str(Path(path).expanduser().absolute())
        engines = [engine.as_json() for engine in self.registry.engines()]
        chunker = {"chunk_tokens": self.settings.chunk_tokens, "embedder": self.embedder.id}
        with explained(self.location):
            found = lineage(self.library.store, target, chunker=chunker, engines=engines)
        if found is None:
            raise WorkbenchError(
                f"{target} is not in the library, its kept versions or its answer log. "
                "Check the path (`workbench folders`).",
                "Unknown file",
            )
        return found

    def unforget(self, path: str | os.PathLike[str]) -> bool:
        """Let syncs index a forgotten path again; False when it was not forgotten."""
        return self.library.unforget(path)

    def replay(self, answer_id: str) -> ReplayResult:
        """Re-run a logged answer against its index version, model file and parameters."""
        return self.answerer.replay(answer_id)

    def answers(self, limit: int | None = 20) -> list[AnswerSummary]:
        """Logged answers, newest first."""
        return self.answerer.recent(limit)

    def answer(self, answer_id: str) -> AnswerRecord:
        """The full logged record of one answer (an id or a unique prefix of one)."""
        return self.answerer.get(answer_id)
