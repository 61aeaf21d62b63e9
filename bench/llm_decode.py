"""Decode speed through Workbench next to raw llama-cpp-python, same prompt, same run.

    uv run python bench/llm_decode.py [--rounds 5] [--tokens 256]

Both sides load the same GGUF (the bundled SmolLM2-135M-Instruct unless --model) with the
same threads, context size and GPU layers, and answer the same chat messages greedily for
the same number of tokens. Rounds interleave the sides (in alternating order) and each side
starts every round from an empty KV cache, so both evaluate the whole prompt; medians are
reported. Reported per side: decode
tokens/s (tokens after the first over the time they took) and time to first token (prompt
evaluation + first sample); the figure is the ratio of decode speeds, Workbench / raw
``create_chat_completion(stream=True)`` (goal >= 0.95). The raw low-level ``Llama.generate``
loop is reported too, as the fastest way to drive llama-cpp-python from Python.

Then `workbench ask` runs end to end on the demo library (warm model): its time to first
token includes retrieval and the grounding check is timed apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import fresh_workbench

from workbench.core.answering.chat import ChatParams
from workbench.core.answering.models import BUNDLED_NAME

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {
        "role": "user",
        "content": "Write a long, detailed story about a lighthouse keeper who finds a message "
        "in a bottle. Describe the island, the weather, the keeper's daily routine and what "
        "the message says.",
    },
]
DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"


def through_workbench(model: Any, tokens: int) -> dict[str, float]:
    model.llm.reset()  # an empty KV cache, like the raw side
    params = ChatParams(max_tokens=tokens, temperature=0.0, repeat_penalty=1.0)
    completion = model.chat(PROMPT, params, on_token=lambda piece: None)
    return {
        "tokens": completion.completion_tokens,
        "decode_tps": completion.tokens_per_second,
        "ttft_ms": completion.first_token_ms,
    }


def through_raw_chat(llm: Any, tokens: int) -> dict[str, float]:
    llm.reset()
    started = time.perf_counter()
    stamps = []
    stream = llm.create_chat_completion(
        PROMPT, max_tokens=tokens, temperature=0.0, repeat_penalty=1.0, stream=True
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            stamps.append(time.perf_counter())
    return _rates(started, stamps)


def through_raw_generate(llm: Any, tokens: int) -> dict[str, float]:
    """The bare loop: llama-cpp-python's own chat template, generate(), detokenize()."""
    llm.reset()
    handler = llm._chat_handlers.get(llm.chat_format)
    assert handler is not None
    from llama_cpp import llama_chat_format

    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=llm._model.token_get_text(llm.token_eos()),
        bos_token=llm._model.token_get_text(llm.token_bos()),
    )
    rendered = formatter(messages=PROMPT)
    prompt = llm.tokenize(
        rendered.prompt.encode(), add_bos=not rendered.added_special, special=True
    )
    started = time.perf_counter()
    stamps = []
    for token in llm.generate(prompt, temp=0.0, repeat_penalty=1.0):
        if token == llm.token_eos() or len(stamps) >= tokens:
            break
        llm.detokenize([token])
        stamps.append(time.perf_counter())
    return _rates(started, stamps)


def _rates(started: float, stamps: list[float]) -> dict[str, float]:
    decode_s = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return {
        "tokens": len(stamps),
        "decode_tps": (len(stamps) - 1) / decode_s if decode_s else 0.0,
        "ttft_ms": (stamps[0] - started) * 1000 if stamps else 0.0,
    }


def ask_end_to_end(workbench: Any, rounds: int) -> dict[str, Any]:
    workbench.add_folder(DEMO)
    workbench.ingest()
    questions = [
        "How long is the password reset link valid?",
        "What was decided about the nightly backup?",
        "How much did quarterly revenue grow?",
    ]
    workbench.ask(questions[0])  # warm: model loaded, caches filled
    records = [workbench.ask(q) for _ in range(rounds) for q in questions]
    timings = [r.as_json()["timings"] for r in records]

    def median(name: str) -> float:
        return round(statistics.median(t[name] for t in timings), 1)

    return {
        "answers": len(records),
        "retrieve_ms": median("retrieve_ms"),
        "prompt_ms": median("prompt_ms"),
        "first_token_ms": median("first_token_ms"),
        "decode_tps": median("tokens_per_second"),
        "check_ms": median("check_ms"),
        "prompt_tokens": statistics.median(r.usage.prompt_tokens for r in records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--model", default=BUNDLED_NAME, help="model name (default: bundled)")
    args = parser.parse_args()
    import llama_cpp

    with tempfile.TemporaryDirectory() as tmp:
        workbench = fresh_workbench(Path(tmp) / "home", scan_model_caches=False)
        model = workbench.chat_model(args.model)
        raw = llama_cpp.Llama(
            model_path=model.path,
            n_ctx=model.context_size,
            n_threads=model.threads,
            n_threads_batch=model.threads,
            n_gpu_layers=model.gpu_layers,
            verbose=False,
        )
        sides = {
            "workbench": lambda: through_workbench(model, args.tokens),
            "raw_chat_completion": lambda: through_raw_chat(raw, args.tokens),
            "raw_generate_loop": lambda: through_raw_generate(raw, args.tokens),
        }
        for run in sides.values():  # warm-up: page the weights in, fill caches
            run()
        results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for round_number in range(args.rounds):
            order = list(sides.items())
            if round_number % 2:  # alternate the order: neither side always runs first
                order.reverse()
            for name, run in order:
                results[name].append(run())
        ask = ask_end_to_end(workbench, max(1, args.rounds // 2))
    summary = {
        name: {
            "tokens": runs[0]["tokens"],
            "decode_tps": round(statistics.median(r["decode_tps"] for r in runs), 1),
            "ttft_ms": round(statistics.median(r["ttft_ms"] for r in runs), 1),
        }
        for name, runs in results.items()
    }
    wb, raw_chat = summary["workbench"]["decode_tps"], summary["raw_chat_completion"]["decode_tps"]
    print(
        json.dumps(
            {
                "model": model.name,
                "threads": model.threads,
                "gpu_layers": model.gpu_layers,
                "n_ctx": model.context_size,
                "rounds": args.rounds,
                **summary,
                "ratio_vs_raw_chat_completion": round(wb / raw_chat, 3),
                "ratio_vs_raw_generate_loop": round(
                    wb / summary["raw_generate_loop"]["decode_tps"], 3
                ),
                "ask_end_to_end": ask,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
