"""Remote backends: decode speed through Workbench next to a bare streaming client, and the
cost of failing over to the local model, side by side in one run.

    uv run python bench/remote_backend.py [--rounds 5] [--tokens 200]

1. Decode: one loopback `python -m llama_cpp.server` serves the bundled SmolLM2. Each round
   streams the same chat completion (greedy, --tokens tokens) twice, in alternating order:
   through Workbench (the ``gpu:smollm2`` chat model of a [backends.gpu] block: transport,
   retries, breaker, receipts, SSE parsing) and through a bare httpx client that reads the
   same server-sent events with no Workbench code at all. Decode tokens/s is the tokens after
   the first over the time they took, from the moment each piece reached the caller; the
   figure is the median of the rounds' paired ratios (both sides of a round share the
   machine's state). The server runs one thread, leaving the client a core. Goal (issue 12):
   Workbench >= 0.95x the bare client.
2. Failover: the same demo-library question asked of the local model, and of ``gpu:smollm2``
   whose server is down (nothing listens) and whose breaker is open (three failed asks
   opened it), so the answer comes from the local fallback. Both start with an empty KV
   cache; the rounds alternate their order. Goal: first token from the fallback within
   0.5 s of the local ask's.

With --busy, a process spinning on one core runs throughout (a desktop that is doing something
else); results go to remote_backend_busy.json.

Prints the figures and writes bench/results/remote_backend.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import fresh_workbench

from workbench.config import BackendConfig
from workbench.core.answering.chat import ChatParams
from workbench.core.answering.models import BUNDLED_NAME, bundled_model_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
from loopback import free_port, llama_server  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "remote_backend.json"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long story about a lighthouse keeper who finds a "
     "message in a bottle. Describe the island, the weather and the keeper's day."},
]  # fmt: skip
QUESTION = "How long is the password reset link valid?"


def decode_rate(stamps: list[float]) -> float:
    """Tokens after the first over the seconds they took."""
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else 0.0


def bare_client(url: str, tokens: int) -> tuple[str, float]:
    """The same request with httpx alone: POST, read the SSE lines, parse each event."""
    body = {"model": "smollm2", "messages": MESSAGES, "max_tokens": tokens,
            "temperature": 0.0, "seed": 0, "stream": True}  # fmt: skip
    pieces: list[str] = []
    stamps: list[float] = []
    with (
        httpx.Client(timeout=120) as client,
        client.stream("POST", f"{url}/chat/completions", json=body) as response,
    ):
        for line in response.iter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            choice = json.loads(line[5:])["choices"][0]
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                stamps.append(time.perf_counter())
                pieces.append(piece)
    return "".join(pieces), decode_rate(stamps)


def through_workbench(chat: Any, tokens: int) -> tuple[str, float]:
    stamps: list[float] = []
    params = ChatParams(max_tokens=tokens, temperature=0.0, seed=0)
    completion = chat.chat(
        MESSAGES, params, on_token=lambda piece: stamps.append(time.perf_counter())
    )
    return completion.text, decode_rate(stamps)


def decode(workbench: Any, url: str, rounds: int, tokens: int) -> dict[str, Any]:
    chat = workbench.chat_model("gpu:smollm2")
    through_workbench(chat, 8)  # warm: the server's first request, the client's connection
    bare_client(url, 8)
    rates: dict[str, list[float]] = {"workbench": [], "bare": []}
    same = True
    for round_ in range(rounds):
        order = ("workbench", "bare") if round_ % 2 == 0 else ("bare", "workbench")
        texts = {}
        for side in order:
            text, rate = through_workbench(chat, tokens) if side == "workbench" else (
                bare_client(url, tokens))  # fmt: skip
            texts[side] = text
            rates[side].append(rate)
        same = same and texts["workbench"] == texts["bare"]
    medians = {side: round(statistics.median(values), 1) for side, values in rates.items()}
    paired = [w / b for w, b in zip(rates["workbench"], rates["bare"], strict=True) if b]
    return {"tokens_per_s": medians, "per_round": rates, "same_text": same,
            "ratio": round(statistics.median(paired), 3),
            "ratio_of_medians": round(medians["workbench"] / medians["bare"], 3)}  # fmt: skip


def failover(workbench: Any, rounds: int) -> dict[str, Any]:
    workbench.settings.backends["down"] = BackendConfig(
        "down", "openai", f"http://127.0.0.1:{free_port()}/v1", model="smollm2", max_retries=0,
        connect_timeout_s=1.0)  # fmt: skip
    for _ in range(3):  # three failed asks open its breaker
        workbench.ask(QUESTION, model="down:smollm2")
    assert workbench.catalog.backend("down").describe()["breaker"] == "open"
    first: dict[str, list[float]] = {"local": [], "failover": []}
    for round_ in range(rounds):
        order = ("local", "failover") if round_ % 2 == 0 else ("failover", "local")
        for side in order:
            workbench.chat_model(BUNDLED_NAME).llm.reset()  # as for a new question
            record = workbench.ask(
                QUESTION, model=BUNDLED_NAME if side == "local" else "down:smollm2"
            )
            assert record.model == BUNDLED_NAME and (side == "local") != bool(
                record.params["failover"]
            )
            first[side].append(record.timings.first_token_ms)
    medians = {side: round(statistics.median(values), 1) for side, values in first.items()}
    return {"first_token_ms": medians, "per_round": first,
            "extra_ms": round(medians["failover"] - medians["local"], 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--busy", action="store_true", help="one core kept busy throughout")
    args = parser.parse_args()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        results = run(args.rounds, args.tokens)
    finally:
        if spinner is not None:
            spinner.kill()
    results["busy"] = args.busy
    out = RESULTS.with_name("remote_backend_busy.json") if args.busy else RESULTS
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    decode_ = results["decode"]
    print(f"decode tok/s: workbench {decode_['tokens_per_s']['workbench']} · bare httpx "
          f"{decode_['tokens_per_s']['bare']} · ratio {decode_['ratio']} · same text "
          f"{decode_['same_text']}")  # fmt: skip
    first = results["failover"]["first_token_ms"]
    print(f"first token ms: local ask {first['local']} · failover (breaker open) "
          f"{first['failover']} · extra {results['failover']['extra_ms']} ms")  # fmt: skip
    print(f"goals: {results['goals']} → {out}")


def run(rounds: int, tokens: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        with llama_server(bundled_model_path(), Path(tmp) / "server.log", threads=1) as url:
            workbench = fresh_workbench(Path(tmp) / "home", scan_model_caches=False,
                                        chat_model=BUNDLED_NAME)  # fmt: skip
            workbench.settings.backends = {
                "gpu": BackendConfig("gpu", "openai", url, model="smollm2", timeout_s=120)
            }
            workbench.add_demo()
            workbench.ingest()
            results = {"decode": decode(workbench, url, rounds, tokens)}
        results["failover"] = failover(workbench, rounds)
    results["goals"] = {
        "decode_ratio_at_least_0.95": results["decode"]["ratio"] >= 0.95,
        "failover_within_500_ms": results["failover"]["extra_ms"] <= 500,
    }
    return results


if __name__ == "__main__":
    main()
