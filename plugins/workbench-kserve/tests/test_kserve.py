"""The v2 client and backend against a real KServe ModelServer on 127.0.0.1 serving the bundled
SmolLM2 (tests/kserve_smollm.py), directly and behind the loopback fault proxy."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import FaultProxy, free_port, wait_until_ready
from workbench_kserve import KServeChat, model_ready, render, server_name

from workbench.backends.remote.resilience import RemoteError, RetryPolicy
from workbench.backends.remote.transport import OfflineRefused, Transport
from workbench.config import BackendConfig
from workbench.core.answering.chat import ChatParams
from workbench.core.answering.models import BUNDLED_NAME, bundled_model_path

SERVER = Path(__file__).with_name("kserve_smollm.py")
QUESTION = "When does the train to Lisbon leave?"
MESSAGES = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "The train to Lisbon leaves at 07:40. When does it leave?"},
]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kserve_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("kserve") / "server.log"
    command = [sys.executable, str(SERVER), str(port), str(bundled_model_path())]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/v2/health/ready", {}, process, log)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def proxy(kserve_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(kserve_url)
    yield proxy
    proxy.close()


def transport(url: str, **kwargs: Any) -> Transport:
    kwargs.setdefault("retry", RetryPolicy(max_retries=2, base_s=0.01, cap_s=0.05))
    return Transport("kserve", url, timeout_s=30.0, **kwargs)


def test_health_metadata_and_a_whole_answer(kserve_url: str) -> None:
    remote = transport(kserve_url)
    assert server_name(remote) == "kserve" and model_ready(remote, "smollm2")
    chat = KServeChat(remote, "smollm2")
    pieces: list[str] = []
    reply = chat.chat(MESSAGES, ChatParams(max_tokens=24, temperature=0.0), on_token=pieces.append)
    assert "07:40" in reply.text and pieces == [reply.text]  # v2 infer answers whole
    assert chat.streams is False  # KServe has no generate extension: infer is used
    again = chat.chat(MESSAGES, ChatParams(max_tokens=24, temperature=0.0))
    assert again.text == reply.text  # the same settings give the same answer
    (receipt, _) = remote.receipts
    assert receipt.path == "/v2/models/smollm2/infer" and receipt.status == 200
    assert receipt.sent["bytes"] == sum(len(m["content"]) for m in MESSAGES)
    assert render(MESSAGES).endswith(MESSAGES[1]["content"])


def test_a_model_the_server_lacks_is_named(kserve_url: str) -> None:
    with pytest.raises(RemoteError, match="has no model called 'llama-70b'"):
        model_ready(transport(kserve_url), "llama-70b")
    chat = KServeChat(transport(kserve_url), "smollm2", output_name="generated_text")
    with pytest.raises(RemoteError, match="without a 'generated_text' output"):
        chat.chat(MESSAGES, ChatParams(max_tokens=4))


@pytest.fixture
def workbench(proxy: FaultProxy, make_workbench: Any, tmp_path: Path) -> Any:
    """A one-file library whose model ``kserve:smollm2`` is KServe behind the fault proxy."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "travel.txt").write_text("The train to Lisbon leaves at 07:40 from platform 3.\n")
    workbench = make_workbench(scan_model_caches=False, max_answer_tokens=24)
    workbench.settings.backends = {"kserve": BackendConfig(
        "kserve", "kserve", proxy.url(), model="smollm2", timeout_s=30.0,
        connect_timeout_s=1.0, max_retries=2)}  # fmt: skip
    workbench.add_folder(folder)
    workbench.ingest()
    return workbench


def test_asking_through_kserve_with_faults_and_failover(workbench: Any, proxy: FaultProxy) -> None:
    listed = {m.name: m for m in workbench.models()}
    assert listed["kserve:smollm2"].source == "remote" and not listed["kserve:smollm2"].error

    proxy.faults = ["pass", "503"]  # GET /v2 passes; the first infer gets a 503, then passes
    record = workbench.answer(workbench.ask(QUESTION, model="kserve:smollm2").id)
    assert (record.backend, record.model) == ("kserve", "kserve:smollm2")
    assert "07:40" in record.answer and record.params["failover"] == []
    (receipt,) = record.receipts
    assert receipt["path"] == "/v2/models/smollm2/infer" and receipt["attempts"] == 2
    assert receipt["sent"]["chunks"][0]["path"].endswith("travel.txt")

    proxy.faults = ["reset"] * 3  # every attempt reset: the local model answers
    local = workbench.ask(QUESTION, model="kserve:smollm2")
    assert local.backend == "llama-cpp" and local.model == BUNDLED_NAME
    assert local.params["failover"][0]["backend"] == "kserve"


def test_backends_check_and_offline(workbench: Any, proxy: FaultProxy) -> None:
    from typer.testing import CliRunner

    from workbench.cli.app import build_cli

    def check() -> Any:
        return CliRunner().invoke(build_cli(), ["backends", "check", "kserve", "--json"],
                                  obj=workbench)  # fmt: skip

    health = json.loads(check().stdout)
    assert health["state"] == "ready" and health["models"] == ["smollm2"]
    assert health["latency_ms"] > 0 and health["key"] == "none"

    workbench.settings.offline = True
    before = len(proxy.requests)
    assert json.loads(check().stdout)["state"] == "offline"
    record = workbench.ask(QUESTION, model="kserve:smollm2")
    assert record.backend == "llama-cpp" and record.receipts == []
    assert len(proxy.requests) == before  # nothing reached the server
    with pytest.raises(OfflineRefused):
        KServeChat(workbench.catalog.backend("kserve").transport, "smollm2").chat(
            MESSAGES, ChatParams(max_tokens=4)
        )
