"""Telemetry: spans and metrics from a real ingest, search, ask and agent run (the SDK's
in-memory exporters), no message content unless opted in, a real Prometheus scrape of
`workbench watch --metrics-port`, OTLP/HTTP export to a loopback receiver, and `stats`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core import telemetry
from workbench.core.answering.models import BUNDLED_NAME
from workbench.core.telemetry import CAPTURE_ENV
from workbench.core.telemetry.memory import in_memory, total

QUESTION = "When does the train to Lisbon leave?"
CONTENT_KEYS = {
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
    "gen_ai.retrieval.query.text", "gen_ai.retrieval.documents", "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result", "workbench.question", "workbench.answer", "workbench.file.path",
    "workbench.sync.scope",
}  # fmt: skip
EXE = str(Path(sys.executable).with_name("workbench"))  # the installed entry point


@pytest.fixture
def captured() -> tuple[Any, Any]:
    """The SDK's in-memory span exporter and metric reader as this process's providers
    (OpenTelemetry's providers are set once per process, so they are shared and cleared)."""
    exporter, reader = in_memory()
    exporter.clear()
    return exporter, reader


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "travel.md").write_text(
        "# Travel\n\nThe train to Lisbon leaves at 07:40 from platform 3.\n"
    )
    (folder / "stock.csv").write_text("sku,name,warehouse,quantity\nA-1,Kettle,Porto,12\n")
    return folder


def named(spans: list[Any], name: str) -> list[Any]:
    """Spans called ``name``; a name ending in a space is a prefix ("chat " for every model)."""
    return [s for s in spans if s.name.startswith(name) if name.endswith(" ") or s.name == name]


def children(spans: list[Any], parent: Any) -> list[Any]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def descendants(spans: list[Any], root: Any) -> list[Any]:
    found = children(spans, root)
    return found + [d for child in found for d in descendants(spans, child)]


def without_content(spans: list[Any], texts: list[str]) -> None:
    for span in spans:
        attributes = dict(span.attributes or {})
        assert not CONTENT_KEYS & set(attributes), (span.name, attributes)
        for value in attributes.values():
            assert not any(text in str(value) for text in texts), (span.name, value)


@pytest.mark.slow
def test_ingest_search_ask_and_agent_spans_and_metrics(
    captured: tuple[Any, Any], make_workbench: Any, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    exporter, reader = captured
    workbench = make_workbench(scan_model_caches=False)
    workbench.add_folder(library)
    files_before = total(reader, "workbench.sync.files", **{"workbench.outcome": "new"})

    workbench.ingest()
    spans = list(exporter.get_finished_spans())
    (sync,) = named(spans, "sync")
    assert sync.parent is None and sync.attributes["workbench.sync.files.new"] == 2
    under_sync = descendants(spans, sync)
    (batch,) = [s for s in children(spans, sync) if s.name == "sync batch"]
    assert {s.name for s in children(spans, sync)} >= {"extract md", "extract csv", "sync batch"}
    extract = named(under_sync, "extract md")[0]
    assert extract.attributes["workbench.outcome"] == "indexed"
    assert extract.attributes["workbench.file.kind"] == "md"
    batch_children = {s.name for s in children(spans, batch)}
    embedder = workbench.embedder.id
    assert {f"embeddings {embedder}", "add chunks", "merge_insert files"} <= batch_children
    embed = named(under_sync, "embeddings ")[0]
    assert embed.attributes["gen_ai.operation.name"] == "embeddings"
    assert embed.attributes["gen_ai.request.model"] == embedder
    assert named(under_sync, "add chunks")[0].attributes["db.system.name"] == "lancedb"
    new = total(reader, "workbench.sync.files", **{"workbench.outcome": "new"}) - files_before
    assert new == 2

    exporter.clear()
    searches = total(reader, "workbench.search.duration", **{"workbench.search.mode": "text"})
    assert workbench.search("Lisbon", mode="text")
    (retrieval,) = exporter.get_finished_spans()
    assert retrieval.name == "retrieval workbench-library" and retrieval.parent is None
    assert retrieval.attributes["gen_ai.operation.name"] == "retrieval"
    assert retrieval.attributes["workbench.search.mode"] == "text"
    assert retrieval.attributes["workbench.search.results"] >= 1
    after = total(reader, "workbench.search.duration", **{"workbench.search.mode": "text"})
    assert after == searches + 1

    exporter.clear()
    record = workbench.ask(QUESTION)
    spans = list(exporter.get_finished_spans())
    (ask,) = named(spans, "ask")
    assert ask.parent is None and ask.attributes["workbench.answer.id"] == record.id
    inside = descendants(spans, ask)
    assert len(inside) == len(spans) - 1  # everything the answer did is under its span
    assert named(inside, "retrieval ") and named(inside, "embeddings ")
    chats = [s for s in named(inside, "chat ")
             if "workbench.chat.purpose" not in s.attributes]  # fmt: skip
    if not record.declined:
        (chat,) = chats
        attributes = chat.attributes
        assert chat.name == f"chat {BUNDLED_NAME}"
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "llama.cpp"
        assert attributes["gen_ai.request.model"] == BUNDLED_NAME
        assert attributes["gen_ai.request.max_tokens"] == workbench.settings.max_answer_tokens
        assert attributes["gen_ai.request.temperature"] == 0.0
        assert attributes["gen_ai.request.seed"] == workbench.settings.seed
        assert attributes["gen_ai.response.finish_reasons"] == (record.finish_reason,)
        assert attributes["gen_ai.usage.input_tokens"] == record.usage.prompt_tokens
        assert attributes["gen_ai.usage.output_tokens"] == record.usage.completion_tokens
        assert named(inside, "grounding check")
        assert total(reader, "gen_ai.client.token.usage", **{"gen_ai.token.type": "output"})
        assert total(reader, "workbench.chat.decode.rate")
    assert total(reader, "workbench.answers")
    assert total(reader, "workbench.ask.time_to_first_token") or record.declined

    exporter.clear()
    run = workbench.agents.run(QUESTION, max_steps=3)
    spans = list(exporter.get_finished_spans())
    (agent,) = named(spans, "invoke_agent ")
    assert agent.parent is None
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.id"] == run.id
    steps = children(spans, agent)
    assert len(named(steps, "chat ")) == len(run.steps)
    ran = [step.tool for step in run.steps if step.tool not in ("", "final_answer")
           and step.error not in ("repeated", "repeated_again")]  # fmt: skip
    tools = named(steps, "execute_tool ")
    assert [s.attributes["gen_ai.tool.name"] for s in tools] == ran
    for tool in tools:
        assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert total(reader, "workbench.agent.steps") >= len(run.steps)

    # Nothing anyone wrote, asked or was answered is in any span without the opt-in.
    every = list(exporter.get_finished_spans()) + spans
    without_content(every, [QUESTION, "07:40", "Kettle", str(library)])

    stats = CliRunner().invoke(build_cli(), ["stats", "--json"], obj=workbench)
    summary = json.loads(stats.stdout)
    assert summary["answers"]["total"] == 1 and summary["agents"]["runs"] == 1
    assert summary["syncs"]["files"]["new"] == 2


@pytest.mark.slow
def test_message_content_only_when_opted_in(
    captured: tuple[Any, Any], make_workbench: Any, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, _ = captured
    workbench = make_workbench(scan_model_caches=False, min_relevance=0.0, min_answerable=0)
    workbench.add_folder(library)
    workbench.ingest()
    monkeypatch.setenv(CAPTURE_ENV, "true")
    exporter.clear()
    record = workbench.ask(QUESTION)
    spans = list(exporter.get_finished_spans())
    (chat,) = [s for s in named(spans, "chat ") if "workbench.chat.purpose" not in s.attributes]
    messages = json.loads(chat.attributes["gen_ai.input.messages"])
    assert messages[-1]["role"] == "user" and QUESTION in messages[-1]["parts"][0]["content"]
    assert "07:40" in messages[-1]["parts"][0]["content"]  # the sources it was shown
    output = json.loads(chat.attributes["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"].strip()
    (retrieval,) = named(spans, "retrieval ")
    assert retrieval.attributes["gen_ai.retrieval.query.text"] == QUESTION
    (ask,) = named(spans, "ask")
    assert ask.attributes["workbench.answer"] == record.answer


def test_a_failure_is_marked_without_its_message_and_odd_text_exports(
    captured: tuple[Any, Any], make_workbench: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.trace import StatusCode

    from workbench.errors import WorkbenchError

    exporter, _ = captured
    workbench = make_workbench(scan_model_caches=False)
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    with pytest.raises(WorkbenchError, match="question is empty"):
        workbench.ask("   ")
    (failed,) = exporter.get_finished_spans()
    assert failed.name == "ask"
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "WorkbenchError"
    assert not failed.events  # the message (it may quote the question) is not recorded

    # Captured text that is not valid UTF-8 (a decoded name's stray bytes) is escaped, so the
    # OTLP encoder never fails on it (such file names are skipped by syncs, see test_hostile).
    monkeypatch.setenv(CAPTURE_ENV, "true")
    exporter.clear()
    with telemetry.span("probe") as current:
        telemetry.content(current, "workbench.file.path", "/notes/caf\udce9.md")
    spans = exporter.get_finished_spans()
    assert spans[0].attributes["workbench.file.path"] == "/notes/caf\\udce9.md"
    assert encode_spans(spans).SerializeToString()  # OTLP export can encode every span


# -- export: real servers and receivers on 127.0.0.1 ----------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, text=True, capture_output=True, timeout=180,
                          **kwargs)  # fmt: skip


@pytest.fixture
def env(workbench_home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return clean | {"WORKBENCH_HOME": str(workbench_home), "WORKBENCH_CHAT_MODEL": BUNDLED_NAME,
                    "WORKBENCH_SCAN_MODEL_CACHES": "false"}  # fmt: skip


class Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps each request's path and protobuf body."""

    received: list[tuple[str, bytes, str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body, self.headers.get("Content-Type", "")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.slow
def test_otlp_http_export_reaches_a_loopback_receiver(env: dict[str, str], library: Path) -> None:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        otlp = env | {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
                      "OTEL_SERVICE_NAME": "workbench-test"}  # fmt: skip
        assert cli("add", str(library), env=otlp).returncode == 0
        assert cli("ingest", env=otlp).returncode == 0
        searched = cli("search", "Lisbon", env=otlp)
        assert searched.returncode == 0, searched.stderr
    finally:
        server.shutdown()
    traces = [ExportTraceServiceRequest.FromString(body)
              for path, body, kind in Receiver.received if path == "/v1/traces"]  # fmt: skip
    assert traces and all(kind == "application/x-protobuf"
                          for path, _, kind in Receiver.received)  # fmt: skip
    spans = [
        (resource, span)
        for request in traces
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = {span.name for _, span in spans}
    assert {"sync", "sync batch", "extract md", "retrieval workbench-library"} <= names
    services = {attribute.value.string_value for resource, _ in spans
                for attribute in resource.resource.attributes
                if attribute.key == "service.name"}  # fmt: skip
    assert services == {"workbench-test"}
    retrieval = next(span for _, span in spans if span.name.startswith("retrieval"))
    attributes = {a.key: a.value for a in retrieval.attributes}
    assert attributes["gen_ai.operation.name"].string_value == "retrieval"
    assert "gen_ai.retrieval.query.text" not in attributes  # no content without the opt-in
    metrics = [ExportMetricsServiceRequest.FromString(body)
               for path, body, _ in Receiver.received if path == "/v1/metrics"]  # fmt: skip
    metric_names = {metric.name for request in metrics for resource in request.resource_metrics
                    for scope in resource.scope_metrics for metric in scope.metrics}  # fmt: skip
    assert {"workbench.sync.files", "workbench.search.duration"} <= metric_names


def test_offline_refuses_an_endpoint_off_this_machine(env: dict[str, str]) -> None:
    remote = env | {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://192.0.2.1:4318"}  # TEST-NET-1
    result = cli("--offline", "status", env=remote)
    assert result.returncode == 0
    assert "Offline: telemetry is not exported to 192.0.2.1:4318" in result.stderr


def test_grpc_protocol_is_a_clear_error(env: dict[str, str]) -> None:
    grpc = env | {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
                  "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}  # fmt: skip
    result = cli("status", env=grpc)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported" in result.stderr


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of /metrics: (name, labels, value)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def sampled(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(value for sample, tags, value in samples
               if sample == name and labels.items() <= tags.items())  # fmt: skip


def events_until(process: subprocess.Popen[str], wanted: Any) -> dict[str, Any]:
    assert process.stdout is not None
    for line in process.stdout:
        event = json.loads(line)
        if wanted(event):
            return event  # type: ignore[no-any-return]
    raise AssertionError(f"watch ended: {process.stderr.read() if process.stderr else ''}")


@pytest.mark.slow
def test_watch_serves_prometheus_metrics_that_move(env: dict[str, str], library: Path) -> None:
    assert cli("add", str(library), env=env).returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [EXE, "watch", "--json", "--metrics-port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        served = events_until(process, lambda e: e["event"] == "metrics")
        assert served["url"] == f"http://127.0.0.1:{port}/metrics"
        events_until(process, lambda e: e["event"] == "batch" and e["trigger"] == "startup")
        before = scrape(port)
        assert sampled(before, "workbench_sync_files_total", workbench_outcome="new") == 2
        assert sampled(before, "target_info", service_name="workbench") == 1
        (library / "more.md").write_text("# More\n\nThe ferry to Porto leaves at noon.\n")
        events_until(process, lambda e: e["event"] == "batch" and any(
            c["path"].endswith("more.md") for c in e.get("changes", [])))  # fmt: skip
        after = scrape(port)
        assert sampled(after, "workbench_sync_files_total", workbench_outcome="new") == 3
        syncs = "workbench_sync_duration_seconds_count"
        assert sampled(after, syncs) > sampled(before, syncs)
        embeds = "gen_ai_client_operation_duration_seconds_count"
        assert sampled(after, embeds, gen_ai_operation_name="embeddings") > sampled(
            before, embeds, gen_ai_operation_name="embeddings")  # fmt: skip
        with pytest.raises(httpx.ConnectError):  # only loopback: not on other addresses
            outside = socket.gethostbyname(socket.gethostname())
            if outside.startswith("127."):
                raise httpx.ConnectError("no other address to try")
            httpx.get(f"http://{outside}:{port}/metrics", timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_metrics_port_in_use_is_a_clear_error(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("watch", "--metrics-port", str(port), env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Metrics port in use" in result.stderr and str(port) in result.stderr


def test_stats_on_an_empty_library(workbench: Any) -> None:
    result = CliRunner().invoke(build_cli(), ["stats"], obj=workbench)
    assert result.exit_code == 0 and "No answers yet" in result.stdout
    summary = json.loads(CliRunner().invoke(build_cli(), ["stats", "--json"], obj=workbench).stdout)
    assert summary["answers"]["total"] == 0 and summary["failures"] == []
    assert summary["answers"]["first_token_ms"] == {"n": 0, "p50": None, "p95": None}


def test_the_metrics_port_setting_serves_long_running_front_ends(env: dict[str, str]) -> None:
    """The terminal UI starts telemetry as a long-running front end: the metrics_port
    setting applies (a one-shot command ignores it)."""
    port = free_port()
    script = (
        "import sys, httpx\n"
        "from workbench.workbench import Workbench\n"
        "served = Workbench().start_telemetry(long_running=sys.argv[1] == 'ui').prometheus\n"
        "print(served)\n"
        "if served: print(httpx.get(served, timeout=10).status_code)\n"
    )
    setting = env | {"WORKBENCH_METRICS_PORT": str(port)}
    ui = subprocess.run([sys.executable, "-c", script, "ui"], env=setting, text=True,
                        capture_output=True, timeout=120)  # fmt: skip
    assert ui.stdout.split() == [f"http://127.0.0.1:{port}/metrics", "200"], ui.stderr
    one_shot = subprocess.run([sys.executable, "-c", script, "cli"], env=setting, text=True,
                              capture_output=True, timeout=120)  # fmt: skip
    assert one_shot.stdout.split() == ["None"], one_shot.stderr


@pytest.mark.slow
def test_ocr_pages_are_spans_under_their_file(
    captured: tuple[Any, Any], make_workbench: Any, tmp_path: Path
) -> None:
    from filemakers import scanned_pdf

    exporter, reader = captured
    folder = tmp_path / "scans"
    folder.mkdir()
    scanned_pdf(folder / "scan.pdf", [["The invoice total is 42 euros."], ["Page two here."]])
    workbench = make_workbench(scan_model_caches=False)
    pages = total(reader, "workbench.ocr.pages")
    workbench.add_folder(folder)
    workbench.ingest()
    spans = list(exporter.get_finished_spans())
    (pdf,) = named(spans, "extract pdf")
    ocr = children(spans, pdf)
    assert [s.name for s in ocr] == ["ocr page", "ocr page"]  # read in a pool, traced under it
    assert sorted(s.attributes["workbench.ocr.page"] for s in ocr) == [1, 2]
    assert all(s.attributes["workbench.ocr.blocks"] >= 1 for s in ocr)
    assert total(reader, "workbench.ocr.pages") == pages + 2
