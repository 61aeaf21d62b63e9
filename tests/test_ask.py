"""Grounded answers with the real bundled model (SmolLM2-135M, greedy) over a real library.

One library and one loaded model serve the whole module: the model cache is per process and
xdist runs a file in one worker, so the model is loaded once here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.backends.llama_cpp import cache_stats, resolve_gpu_layers
from workbench.cli.app import build_cli
from workbench.config import Settings
from workbench.core.answering.grounding import prepare_passages
from workbench.core.answering.models import BUNDLED_NAME, bundled_model_path, file_sha256
from workbench.core.answering.rag import Source, check_and_cite, pack_sources, strip_echo
from workbench.paths import resolve_paths
from workbench.workbench import Workbench

pytestmark = pytest.mark.slow
runner = CliRunner()
CONTRACT = {
    "answer", "citations", "groundedness", "unsupported", "model", "backend", "usage",
    "timings", "id",
}  # fmt: skip


@pytest.fixture(scope="module")
def library_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("asklib")
    (root / "account-help.md").write_text(
        "# Account help\n\n## Resetting your password\n\n"
        'Open Settings, choose Security, then "Reset password". A link is sent to the email '
        "address on the account and stays valid for 30 minutes.\n\n"
        "## Closing an account\n\nClosing an account deletes its data after a 14-day grace "
        "period.\n",
        encoding="utf-8",
    )
    (root / "garden.md").write_text(
        "# Garden\n\n## Tomatoes\n\nWater tomatoes deeply twice a week and pinch out side "
        "shoots.\n\n## Roses\n\nPrune roses in late winter, just above an outward-facing bud.\n",
        encoding="utf-8",
    )
    (root / "travel.txt").write_text(
        "Train to Lisbon leaves at 07:40 from platform 3.\n\n"
        "The hotel near Alfama has breakfast from seven until ten.\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="module")
def asker(tmp_path_factory: pytest.TempPathFactory, library_root: Path, embedder: Any) -> Any:
    home = tmp_path_factory.mktemp("askhome")
    workbench = Workbench(
        resolve_paths(home),
        Settings(scan_model_caches=False, max_answer_tokens=48, chat_model=BUNDLED_NAME),
    )
    workbench.__dict__["embedder"] = embedder
    workbench.add_folder(library_root)
    workbench.ingest()
    return workbench


def run(workbench: Any, *args: str) -> Any:
    return runner.invoke(build_cli(), list(args), obj=workbench, catch_exceptions=False)


def test_answer_cites_the_right_file(asker: Any) -> None:
    pieces: list[str] = []
    phases: list[str] = []
    record = asker.ask(
        "How long is the password reset link valid?",
        on_token=pieces.append,
        on_progress=lambda progress: phases.append(progress.phase),
    )
    assert set(record.as_json()) >= CONTRACT
    assert record.declined is False
    assert [Path(c.path).name for c in record.citations] == ["account-help.md"]
    citation = record.citations[0]
    assert set(citation.as_json()) == {"n", "path", "locator", "text"}
    assert citation.locator["heading"] == "Account help > Resetting your password"
    assert f"[{citation.n}]" in record.answer and "30 minutes" in record.answer
    assert 0.0 < record.groundedness <= 1.0
    assert len(pieces) > 3  # streamed token by token
    assert phases == ["retrieve", "load", "generate", "check"]
    assert record.model == BUNDLED_NAME and record.backend == "llama-cpp"
    usage, timings = record.usage, record.timings
    assert usage.prompt_tokens > 20 and 0 < usage.completion_tokens <= 48
    for value in (timings.retrieve_ms, timings.prompt_ms, timings.first_token_ms):
        assert value >= 0
    assert timings.generate_ms >= 0
    assert timings.first_token_ms >= timings.retrieve_ms + timings.prompt_ms
    assert timings.tokens_per_second > 0


def test_question_the_library_cannot_answer_is_declined(asker: Any) -> None:
    loads = cache_stats()["loads"]
    record = asker.ask("Who won the football World Cup in 2018?")
    assert record.declined is True
    assert record.citations == [] and record.unsupported == []
    assert "could not find" in record.answer
    assert record.as_json()["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}  # not asked
    assert cache_stats()["loads"] == loads


def test_second_question_reuses_the_loaded_model(asker: Any) -> None:
    first = asker.chat_model()
    loads = cache_stats()["loads"]
    record = asker.ask("When should I prune roses?")
    assert cache_stats()["loads"] == loads  # not reloaded
    assert record.timings.load_ms < 50
    assert asker.chat_model() is first
    assert [Path(c.path).name for c in record.citations] == ["garden.md"]


def test_answer_log_records_everything(asker: Any) -> None:
    record = asker.ask("What time does the train to Lisbon leave?")
    logged = asker.answer(record.id)
    assert logged.as_json() == json.loads(json.dumps(record.as_json()))
    assert logged == record  # one round trip through the log's JSON loses nothing
    assert logged.question == "What time does the train to Lisbon leave?"
    assert logged.model_sha256 == file_sha256(bundled_model_path())
    assert logged.model_path == str(bundled_model_path())
    assert logged.index_version == asker.library.store.version()
    params = logged.params
    assert params["temperature"] == 0.0 and params["max_tokens"] == 48 and params["k"] == 6
    assert params["runtime"]["name"] == "llama-cpp"
    assert logged.messages[1]["content"].startswith("Sources:\n[1]")
    assert asker.answer(record.id[:10]).id == record.id  # a unique prefix works
    listed = asker.answers()
    assert listed[0].id == record.id  # newest first
    assert abs((listed[0].created - record.created).total_seconds()) < 0.001
    assert {r.question for r in listed} >= {"Who won the football World Cup in 2018?"}


def test_cli_ask_and_answers_json_contract(asker: Any) -> None:
    result = run(asker, "ask", "How often should I water tomatoes?", "--k", "3", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record) >= CONTRACT
    assert set(record["usage"]) == {"prompt_tokens", "completion_tokens"}
    assert set(record["timings"]) >= {"retrieve_ms", "prompt_ms", "first_token_ms", "generate_ms"}
    assert record["params"]["k"] == 3

    listed = json.loads(run(asker, "answers", "list", "--json").stdout)["answers"]
    assert set(listed[0]) >= {"id", "question", "created", "model", "groundedness"}
    assert listed[0]["id"] == record["id"]
    shown = json.loads(run(asker, "answers", "show", record["id"], "--json").stdout)
    assert shown["answer"] == record["answer"] and shown["receipts"] == []  # a local answer

    human = run(asker, "answers", "show", record["id"])
    assert "How often should I water tomatoes?" in human.stdout and "Groundedness" in human.stdout
    assert "Nothing was sent off this machine" in human.stdout
    missing = run(asker, "answers", "show", "ffffffff")
    assert missing.exit_code == 1 and "No answer with id" in missing.stderr


def test_cli_ask_prints_answer_sources_and_checks(asker: Any, library_root: Path) -> None:
    result = run(asker, "ask", "How long is the password reset link valid?")
    assert result.exit_code == 0, result.output
    assert "Sources:" in result.stdout and str(library_root / "account-help.md") in result.stdout
    assert "Groundedness" in result.stdout and "tok/s" in result.stdout
    declined = run(asker, "ask", "What is the boiling point of mercury?")
    assert "could not find" in declined.stdout and "model was not asked" in declined.stdout


def test_sources_are_packed_into_a_small_window(
    tmp_path: Path, library_root: Path, embedder: Any
) -> None:
    long_file = library_root.parent / "longlib" / "manual.md"
    long_file.parent.mkdir(exist_ok=True)
    paragraph = "The pump manual says: flush the pump with clean water after every use. " * 12
    long_file.write_text(
        "# Pump manual\n\n" + "\n\n".join(f"## Part {i}\n\n{paragraph}" for i in range(8))
    )
    settings = Settings(
        scan_model_caches=False,
        context_size=512,
        max_answer_tokens=32,
        evidence_tokens=0,
        chat_model=BUNDLED_NAME,
    )
    workbench = Workbench(resolve_paths(tmp_path / "small"), settings)
    workbench.__dict__["embedder"] = embedder
    workbench.add_folder(long_file.parent)
    workbench.ingest()
    record = workbench.ask("How do I flush the pump?", k=8)
    assert not record.declined
    assert record.usage.prompt_tokens + 32 <= 512
    offered = record.messages[1]["content"]
    assert "[1]" in offered and len(record.sources) < 8  # not every source fitted


RESET = "How long is the password reset link valid?"


@pytest.mark.parametrize(
    "raw",
    [
        f"The link stays valid for 30 minutes [1].\nQuestion: {RESET}",
        f"The link stays valid for 30 minutes [1].\n\nQuestion: {RESET}\nAnswer: 30 minutes.",
        f"The link stays valid for 30 minutes [1]. Question: {RESET}",
        "The link stays valid for 30 minutes [1]. Question: How long is the pass",  # cut off
        "The link stays valid for 30 minutes [1].\nQuestion: What else can I reset?",
    ],
)
def test_echoed_question_is_cut_from_the_answer(raw: str) -> None:
    assert strip_echo(raw, RESET) == "The link stays valid for 30 minutes [1]."


def test_question_in_the_answer_itself_is_kept() -> None:
    kept = [
        "Question: 30 minutes.",  # nothing would be left
        "The form asks one thing. Question: your mother's maiden name.",
        "It answers the question: how long the link lasts.",
    ]
    assert [strip_echo(text, RESET) for text in kept] == kept


def test_checked_answer_has_no_echo(embedder: Any) -> None:
    text = (
        'Open Settings, choose Security, then "Reset password". A link is sent to the email '
        "address on the account and stays valid for 30 minutes."
    )
    source = Source(1, "c1", "account-help.md", {}, text, 1.0,
                    prepare_passages([text], embedder)[0])  # fmt: skip
    raw = f"The reset link stays valid for 30 minutes [1].\nQuestion: {RESET}"
    answer, report, _ = check_and_cite(RESET, raw, [source], embedder, 0.55)
    assert answer == "The reset link stays valid for 30 minutes [1]."
    assert len(report.sentences) == 1 and report.sentences[0].supported


def test_gpu_layers_auto_matches_the_build() -> None:
    import llama_cpp

    expected = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    assert resolve_gpu_layers("auto") == expected
    assert resolve_gpu_layers(12) == 12


def test_empty_library_and_unknown_model_are_explained(workbench: Any, asker: Any) -> None:
    result = run(workbench, "ask", "anything?")
    assert result.exit_code == 1 and "workbench add PATH" in result.stderr
    result = run(asker, "ask", "When should I prune roses?", "--model", "nope")
    assert result.exit_code == 1 and "No model named 'nope'" in result.stderr


def test_installed_entry_point_asks(library_root: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "workbench"
    env = dict(os.environ, WORKBENCH_HOME=str(tmp_path / "cli"), WORKBENCH_MAX_ANSWER_TOKENS="24")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), *args], env=env, capture_output=True, text=True, timeout=300
        )

    assert cli("add", str(library_root)).returncode == 0
    assert cli("ingest").returncode == 0
    asked = cli("ask", "When does the train to Lisbon leave?", "--json")
    assert asked.returncode == 0, asked.stderr
    record = json.loads(asked.stdout)
    assert [Path(c["path"]).name for c in record["citations"]] == ["travel.txt"]
    listed = cli("answers", "list")
    assert listed.returncode == 0 and record["id"] in listed.stdout


def test_evidence_too_long_for_the_budget_falls_back_to_whole_chunks(
    asker: Any, embedder: Any
) -> None:
    """A source that is one long sentence (no stops: a log line, a table row) cannot be cut
    into sentences that fit ``evidence_tokens``; the model is still shown the source."""
    long_line = "Pump pressure reading " + " ".join(f"value{i} ok" for i in range(150))
    passage = prepare_passages([long_line], embedder)[0]
    source = Source(1, "id", "/log.txt", {}, long_line, 0.9, passage)
    question = "What was the pump pressure reading?"
    model = asker.chat_model()
    vector = embedder.embed([question])[0]
    blocks, used = pack_sources(
        question, [source], model, 48, evidence_tokens=40, query_vector=vector
    )
    assert len(blocks) == 1 and blocks[0].startswith("[1] Pump pressure reading")
    assert [s.path for s in used] == ["/log.txt"]
    short = "The pump pressure reading was 4 bar. " + long_line
    passage = prepare_passages([short], embedder)[0]
    source = Source(1, "id", "/log.txt", {}, short, 0.9, passage)
    blocks, _ = pack_sources(question, [source], model, 48, evidence_tokens=40, query_vector=vector)
    assert blocks == ["[1] The pump pressure reading was 4 bar."]  # evidence when it fits
