"""Measures where each model's answerability check should decline (`min_answerable`).

    uv run --extra qwen-1.5b python bench/answerable_threshold.py \
        --model qwen2.5-coder-1.5b-instruct

Asks SQuAD 2.0 questions held out from `workbench eval answers`'s default sample (seed 2018,
400 questions), with the check on but declining nothing, so every question gets both the
model's P(yes) that the sources state the answer and an answer. Then, for each threshold,
the share of answerable and unanswerable questions that would be declined and the share of
answerable ones whose answer would still contain the gold answer. The threshold shipped for
a model (core/answering/answerability.py, CALIBRATED) is the highest that declines at most
--max-answerable-declined of the answerable questions here. Results go to
bench/results/answerable_threshold-MODEL.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from _common import fresh_workbench

from workbench.core.answering.service import Answerer
from workbench.core.evaluation.answers import DEFAULT_LIMIT, DEFAULT_SEED, question_result
from workbench.core.evaluation.squad import load_squad, sample_questions, write_articles

DATASET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "squad2-dev"
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--questions", type=int, default=120)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--max-answerable-declined", type=float, default=0.12)
    args = parser.parse_args()
    squad = load_squad(DATASET)
    held = {q.id for q in sample_questions(squad.questions, DEFAULT_LIMIT, DEFAULT_SEED)}
    questions = sample_questions([q for q in squad.questions if q.id not in held],
                                 args.questions, args.seed)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        workbench = fresh_workbench(Path(tmp) / "home", chat_model=args.model,
                                    min_answerable=1e-6, scan_model_caches=False)  # fmt: skip
        docs = Path(tmp) / "articles"
        write_articles(squad.articles, docs)
        workbench.add_folder(docs)
        workbench.ingest()
        answerer = Answerer(workbench.library, workbench.catalog)
        results = []
        for number, question in enumerate(questions, 1):
            results.append(question_result(question, answerer.ask(question.question)))
            print(f"{number}/{len(questions)}", end="\r", flush=True)
    rows = [r for r in results if r.answerability is not None]
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    table = []
    for step in range(5, 96, 5):
        cut = step / 100
        table.append({
            "threshold": cut,
            "answerable_declined": _share(r.answerability < cut for r in answerable),
            "unanswerable_declined": _share(r.answerability < cut for r in unanswerable),
            "contains": _share(r.contains and r.answerability >= cut for r in answerable),
        })  # fmt: skip
    fitting = [t for t in table if t["answerable_declined"] <= args.max_answerable_declined]
    result = {
        "model": args.model,
        "questions": len(rows),
        "answerable": len(answerable),
        "first_token_ms_p50": round(statistics.median(r.first_token_ms for r in rows)),
        "contains_without_check": _share(r.contains for r in answerable),
        "chosen": fitting[-1] if fitting else None,
        "table": table,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"answerable_threshold-{args.model}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "table"}, indent=2))
    for row in table:
        print(row)


def _share(flags: object) -> float:
    values = [bool(flag) for flag in flags]  # type: ignore[attr-defined]
    return round(sum(values) / len(values), 3) if values else 0.0


if __name__ == "__main__":
    main()
