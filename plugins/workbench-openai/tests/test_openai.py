"""The OpenAI-compatible client against a real `python -m llama_cpp.server` on 127.0.0.1,
serving the bundled SmolLM2 GGUF behind an API key."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from loopback import TEST_KEY, TEST_KEY_ENV, free_port
from workbench_openai import OpenAIChat, list_models

from workbench.backends.remote.resilience import RemoteError, RetryPolicy
from workbench.backends.remote.transport import OfflineRefused, Transport
from workbench.config import BackendConfig
from workbench.core.answering.chat import ChatParams
from workbench.core.answering.models import BUNDLED_NAME

KEY, ENV = TEST_KEY, TEST_KEY_ENV
MESSAGES = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "The train to Lisbon leaves at 07:40. When does it leave?"},
]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(openai_server: tuple[str, Path]) -> tuple[str, Path]:
    return openai_server


@pytest.fixture
def transport(server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> Transport:
    monkeypatch.setenv(ENV, KEY)
    return Transport("gpu", server[0], api_key_env=ENV, timeout_s=60.0,
                     retry=RetryPolicy(max_retries=1, base_s=0.01, cap_s=0.05))  # fmt: skip


def asking(make_workbench: Any, tmp_path: Path, backend: BackendConfig) -> Any:
    """A workbench over a one-file library whose backend ``gpu`` is ``backend``."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "travel.txt").write_text("The train to Lisbon leaves at 07:40 from platform 3.\n")
    workbench = make_workbench(scan_model_caches=False, max_answer_tokens=32)
    workbench.settings.backends = {"gpu": backend}
    workbench.add_folder(folder)
    workbench.ingest()
    return workbench


def test_models_are_listed(transport: Transport) -> None:
    assert list_models(transport) == ["smollm2"]


def test_streamed_answer_equals_the_whole_one(transport: Transport) -> None:
    chat = OpenAIChat(transport, "smollm2")
    params = ChatParams(max_tokens=24, temperature=0.0)
    pieces: list[str] = []
    streamed = chat.chat(MESSAGES, params, on_token=pieces.append)
    whole = chat.complete(MESSAGES, params)
    assert streamed.text == whole.text and streamed.text.strip()
    assert "".join(pieces) == streamed.text and len(pieces) > 3  # it streamed, piece by piece
    assert streamed.finish_reason in ("stop", "length") and streamed.first_token_ms > 0
    receipts = transport.receipts
    assert [r.path for r in receipts] == ["/chat/completions", "/chat/completions"]
    assert all(r.status == 200 and r.host.startswith("127.0.0.1:") for r in receipts)
    assert receipts[0].sent == {"messages": 2, "bytes": sum(len(m["content"]) for m in MESSAGES)}


def test_a_missing_key_is_a_clear_401_and_keys_stay_out_of_logs(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    keyless = Transport("gpu", server[0], api_key_env=ENV, retry=RetryPolicy(max_retries=0))
    with pytest.raises(RemoteError) as caught:
        list_models(keyless)
    assert "HTTP 401" in str(caught.value) and ENV in str(caught.value)
    assert KEY not in server[1].read_text()  # the server's log never shows the key


def test_offline_reaches_no_server(transport: Transport) -> None:
    transport.offline = lambda: True
    with pytest.raises(OfflineRefused):
        OpenAIChat(transport, "smollm2").chat(MESSAGES, ChatParams(max_tokens=4))
    assert list(transport.receipts) == []


def test_a_configured_backend_is_listed_and_answers(
    server: tuple[str, Path], make_workbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    workbench = asking(make_workbench, tmp_path, BackendConfig(
        "gpu", "openai", server[0], model="smollm2", api_key_env=ENV))  # fmt: skip
    listed = {m.name: m for m in workbench.models()}
    assert listed["gpu:smollm2"].source == "remote" and not listed["gpu:smollm2"].error
    record = workbench.ask("When does the train to Lisbon leave?", model="gpu:smollm2")
    assert (record.backend, record.model, record.declined) == ("gpu", "gpu:smollm2", False)
    assert record.answer.strip() and record.model_sha256 is None
    assert record.params["runtime"]["host"].startswith("127.0.0.1:")

    assert record.params["failover"] == []

    requests = server[1].read_text().count("POST /v1/chat/completions")
    workbench.settings.offline = True
    workbench.settings.backends = {"gpu": replace(workbench.settings.backends["gpu"], fallback="")}
    with pytest.raises(OfflineRefused):
        workbench.ask("When does the train to Lisbon leave?", model="gpu:smollm2")
    assert server[1].read_text().count("POST /v1/chat/completions") == requests  # none sent


def test_a_failing_backend_fails_over_to_the_local_model(
    server: tuple[str, Path], make_workbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workbench = asking(make_workbench, tmp_path, BackendConfig(  # nothing listens there
        "gpu", "openai", f"http://127.0.0.1:{free_port()}/v1", model="smollm2", max_retries=1,
        connect_timeout_s=1.0))  # fmt: skip
    phases: list[str] = []
    record = workbench.ask("When does the train to Lisbon leave?", model="gpu:smollm2",
                           on_progress=lambda p: phases.append(p.phase))  # fmt: skip
    assert record.backend == "llama-cpp" and record.model == BUNDLED_NAME  # answered locally
    assert "07:40" in record.answer and "failover" in phases
    (failover,) = record.params["failover"]
    assert (failover["backend"], failover["to"]) == ("gpu", BUNDLED_NAME)
    assert "Could not reach the backend 'gpu'" in failover["error"]
    assert workbench.answer(record.id).params["failover"] == record.params["failover"]  # logged

    workbench.settings.offline = True  # offline: straight to the local model, nothing sent
    offline = workbench.ask("When does the train to Lisbon leave?", model="gpu:smollm2")
    assert (
        offline.backend == "llama-cpp" and "Offline mode" in offline.params["failover"][0]["error"]
    )


def test_the_offline_flag_sends_nothing_and_answers_locally(
    server: tuple[str, Path], make_workbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from workbench.cli.app import build_cli

    monkeypatch.setenv(ENV, KEY)
    workbench = asking(make_workbench, tmp_path, BackendConfig(
        "gpu", "openai", server[0], model="smollm2", api_key_env=ENV))  # fmt: skip
    before = server[1].read_text().count("POST /v1/chat/completions")
    result = CliRunner().invoke(
        build_cli(), ["--offline", "ask", "When does the train leave?", "--model", "gpu:smollm2",
                      "--json"], obj=workbench, catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["backend"] == "llama-cpp" and record["params"]["failover"][0]["backend"] == "gpu"
    assert server[1].read_text().count("POST /v1/chat/completions") == before  # nothing sent


def test_a_stream_cut_mid_answer_is_a_clear_error(tmp_path: Path) -> None:
    """A server that sends the start of an answer and then drops the connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            event = b'data: {"choices": [{"delta": {"content": "The train"}}]}\n\n'
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                               b"transfer-encoding: chunked\r\n\r\n"
                               + f"{len(event):x}\r\n".encode() + event + b"\r\n")  # fmt: skip
        listener.close()  # no closing chunk: the stream is cut

    threading.Thread(target=serve, daemon=True).start()
    chat = OpenAIChat(Transport("gpu", f"http://127.0.0.1:{port}/v1"), "smollm2")
    pieces: list[str] = []
    with pytest.raises(RemoteError, match="cut off mid-stream"):
        chat.chat(MESSAGES, ChatParams(max_tokens=8), on_token=pieces.append)
    assert pieces == ["The train"]  # what came before the cut was streamed


def test_an_agent_runs_on_a_remote_model_with_valid_steps(
    server: tuple[str, Path], make_workbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step schema goes to the server as its response_format, so remote steps are valid
    by construction too (llama.cpp's server compiles it to the same kind of grammar)."""
    monkeypatch.setenv(ENV, KEY)
    workbench = asking(make_workbench, tmp_path, BackendConfig(
        "gpu", "openai", server[0], model="smollm2", api_key_env=ENV))  # fmt: skip
    run = workbench.agents.run("When does the train to Lisbon leave?", model="gpu:smollm2",
                               max_steps=3)  # fmt: skip
    assert run.backend == "gpu" and run.steps
    assert all(step.valid or "cut off" in step.result for step in run.steps), run.steps
    assert any(step.valid for step in run.steps)
