"""What telemetry costs: search p50 and ask first-token p50 with telemetry exporting (OTLP over
HTTP to a collector on 127.0.0.1, and a Prometheus /metrics endpoint) against telemetry off (the
default), side by side in one run.

    uv run python bench/telemetry_overhead.py [--docs 2000] [--rounds 4] [--busy]

A library of SciFact abstracts (one file each) is built once. Each round starts one fresh
process per mode, in turn (off, otlp, prometheus, off, ...), so no mode always runs first on a
warm machine; each process loads the model and warms up, then times ``--searches`` hybrid
searches and ``--asks`` answers with the bundled model (every answer goes to the model:
min_relevance and min_answerable are 0). The OTLP mode exports metrics every second, not every
minute, so export work happens during the timings. The collector here is a loopback HTTP server
that counts what it receives. ``--busy`` keeps one core busy throughout (a desktop doing
something else). Each process also times the telemetry calls alone (a span; what a search adds),
which process-to-process noise in the p50s cannot hide. Goal: overhead <= 3% (ratio <= 1.03).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _common import SCIFACT, free_port, percentile, report, scifact_library

from workbench.core.answering.models import BUNDLED_NAME

MODES = ("off", "otlp", "prometheus")
HERE = Path(__file__).resolve()


class Collector(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP posts and counts bytes per path."""

    received: dict[str, int] = {}

    def do_POST(self) -> None:  # noqa: N802
        size = int(self.headers.get("Content-Length", 0))
        self.rfile.read(size)
        self.received[self.path] = self.received.get(self.path, 0) + size
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def build(home: Path, docs: int) -> list[str]:
    """The library and the questions (SciFact queries) asked of it."""
    scifact_library(home, docs)
    with (SCIFACT / "queries.jsonl").open() as handle:
        return [json.loads(line)["text"] for line in handle]


def worker(args: argparse.Namespace) -> None:
    """One process of one mode: warm up, then time searches and asks; prints JSON."""
    from workbench.workbench import Workbench

    questions = json.loads(Path(args.questions).read_text())
    workbench = Workbench()
    port = free_port() if args.worker == "prometheus" else None
    exporting = workbench.start_telemetry(port)
    assert exporting.active == (args.worker != "off"), exporting
    workbench.search(questions[-1])
    workbench.ask(questions[-1])  # loads the model
    searches = []
    for question in questions[: args.searches]:
        began = time.perf_counter()
        workbench.search(question)
        searches.append((time.perf_counter() - began) * 1000)
    first_tokens = [
        workbench.ask(question).timings.first_token_ms
        for question in questions[args.searches : args.searches + args.asks]
    ]
    print(json.dumps({"search_ms": searches, "first_token_ms": first_tokens,
                      **instrumentation_us(workbench, questions[0])}))  # fmt: skip


def instrumentation_us(workbench: Any, query: str, repeat: int = 5000) -> dict[str, list[float]]:
    """Microseconds of the telemetry calls alone in this mode: one span with attributes, and
    everything a search adds around its work (its retrieval and embedding spans, the latency
    histogram, the results recorded), on real results."""
    from workbench.core import telemetry
    from workbench.core.telemetry import genai

    results = workbench.search(query)

    def one_span() -> None:
        with telemetry.span("probe", {"workbench.a": 1, "workbench.b": "x"}):
            pass

    def search_calls() -> None:
        watch = telemetry.Stopwatch()
        with genai.retrieval(query, "hybrid", 10) as current:
            with genai.embedding(workbench.embedder, 1):
                pass
            genai.retrieved(current, results)
        telemetry.SEARCH_DURATION.record(watch.seconds, {"workbench.search.mode": "hybrid"})

    out = {}
    for name, call in (("span_us", one_span), ("search_telemetry_us", search_calls)):
        began = time.perf_counter()
        for _ in range(repeat):
            call()
        out[name] = [(time.perf_counter() - began) / repeat * 1e6]
    return out


def run_mode(mode: str, home: Path, questions: Path, args: argparse.Namespace,
             collector: int) -> dict[str, list[float]]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"WORKBENCH_HOME": str(home / "wb"), "WORKBENCH_CHAT_MODEL": BUNDLED_NAME,
            "WORKBENCH_MIN_RELEVANCE": "0", "WORKBENCH_MIN_ANSWERABLE": "0",
            "WORKBENCH_MAX_ANSWER_TOKENS": "24",
            "WORKBENCH_SCAN_MODEL_CACHES": "false"}  # fmt: skip
    if mode == "otlp":
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector}",
                "OTEL_METRIC_EXPORT_INTERVAL": "1000"}  # fmt: skip
    command = [sys.executable, str(HERE), "--worker", mode, "--questions", str(questions),
               "--searches", str(args.searches), "--asks", str(args.asks)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{mode} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--searches", type=int, default=150)
    parser.add_argument("--asks", type=int, default=12)
    parser.add_argument("--busy", action="store_true", help="one core busy throughout")
    parser.add_argument("--out", default="")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--questions", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    Collector.received = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        questions = home / "questions.json"
        questions.write_text(json.dumps(build(home, args.docs)))
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy \
            else None  # fmt: skip
        timings: dict[str, dict[str, list[float]]] = {m: {} for m in MODES}
        try:
            for round_ in range(args.rounds):
                order = MODES[round_ % len(MODES):] + MODES[: round_ % len(MODES)]
                for mode in order:
                    got = run_mode(mode, home, questions, args, server.server_port)
                    for key, values in got.items():
                        timings[mode].setdefault(key, []).extend(values)
                    print(f"round {round_ + 1} {mode}: search p50 "
                          f"{percentile(got['search_ms'], 50):.1f} ms, first token p50 "
                          f"{percentile(got['first_token_ms'], 50):.0f} ms",
                          file=sys.stderr)  # fmt: skip
        finally:
            if spinner is not None:
                spinner.kill()
            server.shutdown()
    results: dict[str, Any] = {"docs": args.docs, "rounds": args.rounds, "busy": args.busy,
                               "cores": os.cpu_count(), "collector_bytes": Collector.received}
    for mode in MODES:
        results[mode] = {key: {"n": len(v), "p50": round(percentile(v, 50), 2),
                               "p95": round(percentile(v, 95), 2)}
                         for key, v in timings[mode].items()}  # fmt: skip
    for mode in MODES[1:]:
        results[f"{mode}_vs_off"] = {
            key: round(results[mode][key]["p50"] / results["off"][key]["p50"], 3)
            for key in ("search_ms", "first_token_ms", "search_telemetry_us")
        }
    report(results, args.out)


if __name__ == "__main__":
    main()
