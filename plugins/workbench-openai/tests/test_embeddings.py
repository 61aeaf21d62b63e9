"""A library embedded by a real OpenAI-compatible server (`python -m llama_cpp.server
--embedding true` serving the bundled SmolLM2 GGUF: 576-dimensional vectors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from loopback import llama_server

from workbench.config import BackendConfig
from workbench.core.answering.models import bundled_model_path
from workbench.errors import WorkbenchError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedding_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("embedding") / "server.log"
    with llama_server(bundled_model_path(), log, extra=("--embedding", "true")) as url:
        yield url


def library(make_workbench: Any, tmp_path: Path, url: str, embedder: str) -> Any:
    folder = tmp_path / "notes"
    folder.mkdir(exist_ok=True)
    (folder / "travel.txt").write_text("The train to Lisbon leaves at 07:40 from platform 3.\n")
    (folder / "garden.txt").write_text("Water the tomatoes every morning in July.\n")
    workbench = make_workbench(scan_model_caches=False, embedder=embedder)
    if embedder == "emb":
        del workbench.__dict__["embedder"]  # the suite's shared local one: made from settings
    workbench.settings.backends = {"emb": BackendConfig("emb", "openai", url, model="smollm2")}
    workbench.add_folder(folder)
    return workbench


def test_a_library_embedded_on_the_server(
    embedding_url: str, make_workbench: Any, tmp_path: Path
) -> None:
    workbench = library(make_workbench, tmp_path, embedding_url, "emb")
    embedder = workbench.embedder
    assert embedder.id == "emb:smollm2@remote" and embedder.dim == 576
    vectors = embedder.embed(["one", "two", "three"], batch_size=2)  # two requests
    assert vectors.shape == (3, 576) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)

    report = workbench.ingest()
    assert report.embedded >= 2 and not report.failed
    # SmolLM2 is no embedding model (its mean-pooled vectors rank poorly), so the query is
    # checked through hybrid search: the query vector came from the server too.
    hits = workbench.search("train Lisbon", mode="hybrid")
    assert hits and hits[0].path.endswith("travel.txt")
    assert len(workbench.search("train Lisbon", mode="vector")) == 2
    stored = workbench.library.store.chunks.search().select(["embedder"]).to_arrow().to_pylist()
    assert {row["embedder"] for row in stored} == {"emb:smollm2@remote"}  # keyed by embedder

    # What the ingest sent is on record, though no answer was made.
    from typer.testing import CliRunner

    from workbench.cli.app import build_cli

    def receipts(*args: str) -> Any:
        return CliRunner().invoke(build_cli(), ["backends", "receipts", *args], obj=workbench)

    journal = json.loads(receipts("--json").stdout)["receipts"]
    assert all(r["path"] == "/embeddings" and r["status"] == 200 for r in journal)
    assert sum(r["sent"]["texts"] for r in journal) >= 3 + 2  # the probe, the three, the files
    human = receipts("-n", "2")
    assert human.exit_code == 0 and human.stdout.count("→ emb (127.0.0.1:") == 2


def test_switching_back_to_the_local_embedder_never_mixes_vectors(
    embedding_url: str, make_workbench: Any, tmp_path: Path
) -> None:
    library(make_workbench, tmp_path, embedding_url, "emb").ingest()
    local = make_workbench(scan_model_caches=False)  # the same library, the built-in embedder
    with pytest.raises(WorkbenchError, match="vectors of another size"):
        local.ingest()  # refused, with what to do, rather than mixing 576- and 384-dim vectors


def test_an_embedder_block_that_cannot_embed_is_explained(
    make_workbench: Any, tmp_path: Path
) -> None:
    workbench = make_workbench(scan_model_caches=False, embedder="k")
    del workbench.__dict__["embedder"]
    workbench.settings.backends = {"k": BackendConfig("k", "kserve", "http://127.0.0.1:9")}
    with pytest.raises(WorkbenchError, match="cannot embed text"):
        workbench.embedder  # noqa: B018
