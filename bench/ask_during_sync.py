"""An answer's decode speed and search latency while a sync embeds in the same process, next to
the same work on an idle process, with yielding off (before) and on (after), in one run.

    uv run python bench/ask_during_sync.py [--rounds 3] [--files 300] [--searches 20]

The terminal UI syncs and answers in one process, so this is its normal case. The library
holds the bundled demo folder (what the questions ask about) and SciFact abstracts (what the
searches look for). Each round measures three conditions, in alternating order:

- idle: nothing else runs;
- sync, yielding off: a sync of --files new SciFact abstracts embeds in a thread, with
  ``sync_max_pause_s = 0`` (how Workbench behaved before core/foreground);
- sync, yielding on: the same with the default ``sync_max_pause_s``.

In each: one `ask` (greedy, the bundled model; as for a new question, with an empty KV cache
and no cached grounding windows; its decode tokens/s and time to first token come from its
record), then --searches hybrid searches with --think seconds between them, as a
person reading results would leave. Each sync starts on files it has never seen, is measured
once it is embedding, and is stopped afterwards; its chunks/s over the window shows what the
pauses cost it. Goals (issue 11): decode during a sync >= 0.7x idle, search p95 <= 2x idle.

Other programs' CPU use (from /proc/stat, less this process's) is measured in each condition;
a round in which it passed --max-external cores is set aside and run again (at most
--attempts rounds in all), since on 2 cores it swamps what is measured. Results are printed
and written to bench/results/ask_during_sync.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import SCIFACT, fresh_workbench, scifact_docs, summary

from workbench.config import Settings
from workbench.core.answering.models import BUNDLED_NAME
from workbench.core.foreground import chat_threads, cpu_cores, embed_threads
from workbench.core.index.sync import SyncProgress

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"
RESULTS = Path(__file__).resolve().parent / "results" / "ask_during_sync.json"
QUESTIONS = [
    "How long is the password reset link valid?",
    "What was decided about the nightly backup?",
    "How much did quarterly revenue grow?",
]
CONDITIONS = ("idle", "sync_yield_off", "sync_yield_on")


def write_docs(folder: Path, docs: list[dict[str, str]], tag: str = "") -> Path:
    """One markdown file per abstract; ``tag`` makes their chunks new to the vector cache."""
    folder.mkdir(parents=True)
    for doc in docs:
        text = f"# {doc['title']}\n\n{tag}{doc['text']}\n"
        (folder / f"{doc['_id']}.md").write_text(text)
    return folder


class ExternalLoad:
    """Cores that other programs kept busy between ``__init__`` and ``cores()``."""

    def __init__(self) -> None:
        self.began = (time.perf_counter(), _busy_s(), _own_s())

    def cores(self) -> float:
        wall, busy, own = self.began
        other = (_busy_s() - busy) - (_own_s() - own)
        return round(max(0.0, other) / (time.perf_counter() - wall), 2)


def _busy_s() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _own_s() -> float:
    times = os.times()
    return times.user + times.system


class SyncThread:
    """A sync of ``folder`` in a thread, measured from when it is embedding until stopped."""

    def __init__(self, workbench: Any, folder: Path) -> None:
        self.workbench, self.folder = workbench, folder
        self.embedding, self.stop_flag = threading.Event(), threading.Event()
        self.report: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.embedding.wait(600):
            raise RuntimeError("the sync never started embedding")
        self.began = time.perf_counter()

    def _run(self) -> None:
        def on_progress(progress: SyncProgress) -> None:
            if progress.phase == "index" and progress.done >= 16:  # past its first group
                self.embedding.set()

        self.report = self.workbench.ingest(
            self.folder, on_progress=on_progress, should_stop=self.stop_flag.is_set
        )
        self.embedding.set()

    def stop(self) -> dict[str, Any]:
        running = self.thread.is_alive()
        seconds = time.perf_counter() - self.began
        self.stop_flag.set()
        self.thread.join()
        return {"running_throughout": running, "sync_chunks_embedded": self.report.embedded,
                "sync_seconds": round(seconds, 1)}  # fmt: skip


def measure(workbench: Any, question: str, queries: list[str], think: float) -> dict[str, Any]:
    # As for a new question: the whole prompt is evaluated and every source's grounding
    # windows are embedded (else which synced files happen to rank decides that work).
    workbench.chat_model().llm.reset()
    workbench.answerer._window_vectors.clear()
    load = ExternalLoad()
    record = workbench.ask(question).as_json()
    timings = record["timings"]
    searches = []
    for query in queries:
        time.sleep(think)  # a person reading the last results, not synchronisation
        started = time.perf_counter()
        workbench.search(query, k=10)
        searches.append(1000 * (time.perf_counter() - started))
    return {
        "decode_tps": timings["tokens_per_second"],
        "first_token_ms": timings["first_token_ms"],
        "answer_tokens": record["usage"]["completion_tokens"],
        "search_ms": searches,
        "external_cores": load.cores(),
    }


def run_round(
    workbench: Any, number: int, docs: list[dict[str, str]], queries: list[str], args: Any
) -> dict[str, dict[str, Any]]:
    order = list(CONDITIONS) if number % 2 == 0 else list(reversed(CONDITIONS))
    question = QUESTIONS[number % len(QUESTIONS)]
    results: dict[str, dict[str, Any]] = {}
    for condition in order:
        if condition == "idle":
            results[condition] = measure(workbench, question, queries, args.think)
            continue
        on = condition == "sync_yield_on"
        workbench.settings.sync_max_pause_s = Settings().sync_max_pause_s if on else 0.0
        start = (2 * number + on) * args.files % max(1, len(docs) - args.files)
        tag = f"(Sync {number}-{condition}.) "
        folder = write_docs(args.corpus / f"round{number}-{condition}",
                            docs[start : start + args.files], tag)  # fmt: skip
        sync = SyncThread(workbench, folder)
        results[condition] = measure(workbench, question, queries, args.think)
        results[condition].update(sync.stop())
    return results


def condense(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out = {}
    for condition in CONDITIONS:
        runs = [r[condition] for r in rounds]
        searches = [ms for run in runs for ms in run["search_ms"]]
        out[condition] = {
            "external_cores_each": [r["external_cores"] for r in runs],
            "decode_tps": round(statistics.median(r["decode_tps"] for r in runs), 1),
            "decode_tps_each": [round(r["decode_tps"], 1) for r in runs],
            "first_token_ms": round(statistics.median(r["first_token_ms"] for r in runs), 1),
            "answer_tokens": [r["answer_tokens"] for r in runs],
            "search_ms": summary(searches),
            "searches": len(searches),
        }
        if condition != "idle":
            chunks = sum(r["sync_chunks_embedded"] for r in runs)
            seconds = sum(r["sync_seconds"] for r in runs)
            out[condition]["sync_chunks_per_s"] = round(chunks / seconds, 1)
            out[condition]["sync_running_throughout"] = all(r["running_throughout"] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds kept")
    parser.add_argument("--attempts", type=int, default=12, help="rounds run at most")
    parser.add_argument("--max-external", type=float, default=0.25, help="cores; else rerun")
    parser.add_argument("--files", type=int, default=400, help="files per measured sync")
    parser.add_argument("--searches", type=int, default=20, help="searches per condition")
    parser.add_argument("--think", type=float, default=0.3, help="seconds between searches")
    parser.add_argument("--base", type=int, default=300, help="abstracts indexed beforehand")
    parser.add_argument("--model", default=BUNDLED_NAME, help="chat model (default: bundled)")
    args = parser.parse_args()
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()]
    queries = queries[: args.searches]
    all_docs = scifact_docs(100_000)
    base, docs = all_docs[: args.base], all_docs[args.base :]
    with tempfile.TemporaryDirectory() as tmp:
        workbench = fresh_workbench(Path(tmp) / "home", scan_model_caches=False,
                                    chat_model=args.model)  # fmt: skip
        args.corpus = Path(tmp) / "corpus"
        write_docs(args.corpus / "base", base)
        workbench.add_folder(DEMO)
        workbench.add_folder(args.corpus)
        workbench.ingest()
        measure(workbench, QUESTIONS[0], queries[:3], 0.0)  # warm: model loaded, caches filled
        rounds, set_aside = [], []
        for number in range(args.attempts):
            result = run_round(workbench, number, docs, queries, args)
            busy = max(r["external_cores"] for r in result.values()) > args.max_external
            (set_aside if busy else rounds).append(result)
            print(f"round {number}: {'set aside, ' if busy else ''}external cores "
                  f"{[r['external_cores'] for r in result.values()]}", flush=True)  # fmt: skip
            if len(rounds) == args.rounds:
                break
        if not rounds:
            raise SystemExit("Every round was disturbed by other programs; try when it is quiet.")
    table = condense(rounds)
    idle = table["idle"]
    ratios = {
        f"{side}_{name}": round(value, 3)
        for side in ("sync_yield_off", "sync_yield_on")
        for name, value in (
            ("decode_vs_idle", table[side]["decode_tps"] / idle["decode_tps"]),
            ("search_p95_vs_idle", table[side]["search_ms"]["p95"] / idle["search_ms"]["p95"]),
        )
    }
    result = {
        "cores": cpu_cores(),
        "chat_threads": chat_threads(workbench.settings.threads),
        "embed_threads": embed_threads(workbench.settings.embed_threads),
        "model": args.model,
        "rounds": len(rounds),
        "rounds_set_aside": len(set_aside),
        "files_per_sync": args.files,
        "think_s": args.think,
        **table,
        "ratios": ratios,
        "goals": {"decode_vs_idle": ">= 0.7", "search_p95_vs_idle": "<= 2"},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
