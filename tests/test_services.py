"""The core services behind the facade: one idea of "current", one embedding per question,
model discovery kept until something changes, and records that survive their JSON."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench.core.answering.models import bundled_model_path
from workbench.core.index.library import Library
from workbench.workbench import Workbench


def test_file_states_call_pending_exactly_what_the_next_sync_redoes(
    workbench: Workbench, library: Path
) -> None:
    workbench.add_folder(library)
    workbench.ingest()
    states = workbench.file_states(str(library))
    assert {state.status for state in states} == {"indexed"}

    # An index row made by an older extractor: same size and mtime, but the Syncer redoes it.
    store = workbench.library.store
    garden = str(library / "notes" / "garden.md")
    record = store.file_records()[garden]
    with store.writing():
        store.upsert_files([replace(record, extractor_version="0")])
    pending = [s.path for s in workbench.file_states(str(library)) if s.status == "pending"]
    assert pending == [garden]
    report = workbench.ingest()
    assert report.unchanged == len(states) - 1  # the one pending file was redone
    assert {s.status for s in workbench.file_states(str(library))} == {"indexed"}


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, texts: list[str], **options: Any) -> Any:
        self.texts.extend(texts)
        return self.inner.embed(texts, **options)


def test_the_question_is_embedded_once_per_ask(
    make_workbench: Any, library: Path, embedder: Any
) -> None:
    workbench = make_workbench(scan_model_caches=False)
    counting = CountingEmbedder(embedder)
    workbench.__dict__["embedder"] = counting
    workbench.add_folder(library)
    workbench.ingest()
    question = "What is the capital of the planet Zorblax?"  # declined: no model run needed
    record = workbench.ask(question)
    assert record.declined
    assert counting.texts.count(question) == 1


def test_model_discovery_is_kept_until_a_model_folder_changes(
    make_workbench: Any, tmp_path: Path
) -> None:
    workbench = make_workbench(scan_model_caches=False, chat_model="")  # `models use` decides
    first = workbench.models()
    assert workbench.models()[0] is first[0]  # nothing changed: not read again
    shutil.copyfile(bundled_model_path(), workbench.paths.models_dir / "my-copy.gguf")
    names = [model.name for model in workbench.models()]
    assert "my-copy" in names and len(names) == len(first) + 1
    workbench.use_model("my-copy")
    assert workbench.model().name == "my-copy"


def test_an_answer_record_reads_back_equal_from_the_log(make_workbench: Any, library: Path) -> None:
    workbench = make_workbench(scan_model_caches=False)
    workbench.add_folder(library)
    workbench.ingest()
    record = workbench.ask("Who painted the ceiling of the Zorblax chapel?")
    logged = workbench.answer(record.id)
    assert logged == record and logged.as_json() == record.as_json()
    (summary,) = workbench.answers()
    assert summary.as_json() == record.summary().as_json()


def test_a_library_needs_no_facade(tmp_path: Path, library: Path, workbench: Workbench) -> None:
    own = Library(
        tmp_path / "own.lancedb", tmp_path / "own.lock", workbench.registry,
        workbench.embedder, workbench.settings,
    )  # fmt: skip
    own.add_folder(library)
    assert own.ingest().new == len(list(library.rglob("*.*")))
    assert own.search("prune roses", k=1)[0].path.endswith("garden.md")
    assert workbench.folders() == []  # the user's library was not touched
