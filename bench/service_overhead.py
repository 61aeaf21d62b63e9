"""What the service paths add to an answer: `ask` through `workbench mcp` (stdio, the SDK's own
client) and through `workbench serve` (the openai client, streamed) against the in-process
call, on the same library and questions, side by side in one run.

    uv run python bench/service_overhead.py [--docs 500] [--questions 12]

Each path asks the same questions with the bundled model (min_relevance and min_answerable 0,
so every answer goes to the model). The overhead of a path is measured per request, against the
answer's own timings that the server returns with it (``timings.first_token_ms`` from the
answer record, computed inside the server exactly as for an in-process call):

- serve: the client's time to the first streamed token minus the record's first_token_ms;
- MCP: a tool result comes whole, so its first token is the result itself: the client's time
  to the result minus the record's total_ms (everything the protocol adds around the answer);
- in-process: the record's first_token_ms of the same questions asked through the facade
  here (the baseline figure the others are compared with).

``--busy`` keeps one core busy throughout (a desktop doing something else).
Goal: first-token overhead <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _common import SCIFACT, free_port, percentile, report, scifact_library

from workbench.core.answering.models import BUNDLED_NAME

EXE = str(Path(sys.executable).with_name("workbench"))


def in_process(questions: list[str]) -> list[dict[str, float]]:
    from workbench.workbench import Workbench

    workbench = Workbench()
    workbench.ask(questions[0])  # loads the model, as the servers' warm-up does
    out = []
    for question in questions:
        record = workbench.ask(question)
        out.append({"first_token_ms": record.timings.first_token_ms})
    return out


def through_mcp(questions: list[str], env: dict[str, str]) -> list[dict[str, float]]:
    from mcp import Client, StdioServerParameters

    async def session() -> list[dict[str, float]]:
        server = StdioServerParameters(command=EXE, args=["mcp"], env=env)
        async with Client(server) as client:
            await client.call_tool("ask", {"question": questions[0]})  # warm-up
            out = []
            for question in questions:
                began = time.perf_counter()
                result = await client.call_tool("ask", {"question": question})
                seen = (time.perf_counter() - began) * 1000
                timings = result.structured_content["timings"]
                out.append({"client_ms": seen, "total_ms": timings["total_ms"],
                            "overhead_ms": seen - timings["total_ms"]})  # fmt: skip
            return out

    return anyio.run(session)


def through_serve(questions: list[str], env: dict[str, str]) -> list[dict[str, float]]:
    from openai import OpenAI

    port = free_port()
    process = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
        messages = [{"role": "user", "content": questions[0]}]
        client.chat.completions.create(model="workbench", messages=messages)  # warm-up
        out = []
        for question in questions:
            began = time.perf_counter()
            first = None
            stream = client.chat.completions.create(
                model="workbench", messages=[{"role": "user", "content": question}], stream=True
            )
            for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = (time.perf_counter() - began) * 1000
                last = chunk
            timings = last.model_extra["workbench"]["timings"]
            seen = first if first is not None else (time.perf_counter() - began) * 1000
            out.append({"client_first_token_ms": seen,
                        "first_token_ms": timings["first_token_ms"],
                        "overhead_ms": seen - timings["first_token_ms"]})  # fmt: skip
        return out
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--busy", action="store_true", help="one core busy throughout")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    with (SCIFACT / "queries.jsonl").open() as handle:
        questions = [json.loads(line)["text"] for line in handle][: args.questions]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        scifact_library(home, args.docs)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env |= {"WORKBENCH_HOME": str(home / "wb"), "WORKBENCH_CHAT_MODEL": BUNDLED_NAME,
                "WORKBENCH_MIN_RELEVANCE": "0", "WORKBENCH_MIN_ANSWERABLE": "0",
                "WORKBENCH_MAX_ANSWER_TOKENS": "24",
                "WORKBENCH_SCAN_MODEL_CACHES": "false"}  # fmt: skip
        os.environ.update(env)
        results: dict[str, Any] = {"docs": args.docs, "questions": len(questions),
                                   "cores": os.cpu_count(), "busy": args.busy}  # fmt: skip
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy \
            else None  # fmt: skip
        try:
            runs = {
                "in_process": in_process(questions),
                "mcp": through_mcp(questions, env),
                "serve": through_serve(questions, env),
            }
        finally:
            if spinner is not None:
                spinner.kill()
    for path, rows in runs.items():
        results[path] = {key: {"p50": round(percentile([r[key] for r in rows], 50), 1),
                               "p95": round(percentile([r[key] for r in rows], 95), 1)}
                         for key in rows[0]}  # fmt: skip
    report(results, args.out)


if __name__ == "__main__":
    main()
