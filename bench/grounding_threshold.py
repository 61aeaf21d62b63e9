"""Validates the grounding check and the decline threshold on labelled examples.

    uv run python bench/grounding_threshold.py

bench/grounding_labels.jsonl holds answer sentences with a hand label (supported by the
library or not): sentences SmolLM2-135M wrote for questions about the demo library
(origin "smollm2"), plus faithful paraphrases of the sources (origin "written"), which a
stronger model would produce. Each sentence is scored against the sources `workbench ask`
would give the model for its question, exactly as the check does after every answer; the
script then reports how well each meaning weight and threshold separate the two labels, and
the figures for the shipped setting.

It also checks `min_relevance` (below it `ask` declines without running the model): the best
source relevance of questions the library answers and of questions it cannot answer.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from _common import fresh_workbench

from workbench.core.answering import grounding
from workbench.core.answering.grounding import _has_claim, content_words, score_sentence
from workbench.core.answering.rag import choose_sources, retrieve

LABELS = Path(__file__).with_name("grounding_labels.jsonl")
DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"
EXTRA = {
    "garden.md": "# Garden\n\n## Tomatoes\n\nWater tomatoes deeply twice a week and pinch out "
    "side shoots.\n\n## Roses\n\nPrune roses in late winter, just above an outward-facing bud.\n",
    "travel.txt": "Train to Lisbon leaves at 07:40 from platform 3.\n\nThe hotel near Alfama has "
    "breakfast from seven until ten.\n",
}


ANSWERABLE = [
    "How do I reset my password?",
    "How long is the password reset link valid?",
    "When should I prune roses?",
    "How often should I water tomatoes?",
    "What time does the train to Lisbon leave?",
    "When is breakfast served at the hotel?",
    "How much did quarterly revenue grow?",
    "What was decided about the nightly backup?",
    "How do I make lentil soup?",
    "What should I bring on a day hike?",
    "How many espresso machines are in Berlin?",
    "How does the HTTP client retry?",
    "What happens when I close my account?",
    "Who is writing the migration guide?",
    "What temperature do I bake focaccia at?",
    "What was the churn rate in Q3?",
    "Does Workbench support two-factor authentication?",
]
UNANSWERABLE = [
    "What is the capital of Australia?",
    "Who won the 2018 football World Cup?",
    "How do I change the oil in my car?",
    "What is the boiling point of mercury?",
    "Explain quantum entanglement.",
    "What is the wifi password at the office?",
    "How tall is Mount Everest?",
    "Who wrote Pride and Prejudice?",
    "What's the best programming language for games?",
    "How do I file my taxes in Germany?",
    "What is the population of Tokyo?",
    "When was the Eiffel tower built?",
    "How do I train a neural network?",
    "What is the price of bitcoin?",
]


def relevance_check(workbench) -> dict:
    def best(question: str) -> float:
        return retrieve(workbench.library.store, workbench.embedder, question, k=6).best

    answerable = [best(q) for q in ANSWERABLE]
    unanswerable = [best(q) for q in UNANSWERABLE]
    floor = workbench.settings.min_relevance
    return {
        "min_relevance": floor,
        "answerable_lowest": round(min(answerable), 3),
        "unanswerable_highest": round(max(unanswerable), 3),
        "answered": f"{sum(b >= floor for b in answerable)}/{len(answerable)}",
        "declined": f"{sum(b < floor for b in unanswerable)}/{len(unanswerable)}",
    }


def features(workbench, rows):
    scored = []
    for row in rows:
        retrieval = retrieve(workbench.library.store, workbench.embedder, row["question"], k=6)
        sources = choose_sources(retrieval.sources, workbench.settings.min_relevance)
        text = grounding.strip_citations(row["sentence"])
        question_words = set(content_words(row["question"]))
        if not sources or not _has_claim(text, question_words):
            continue
        vector = workbench.embedder.embed([text])[0]
        scores = [score_sentence(text, vector, s.passage, question_words) for s in sources]
        scored.append((row, scores))
    return scored


def evaluate(scored, meaning_weight, threshold):
    tp = fp = tn = fn = 0
    for row, scores in scored:
        best = 0.0
        for score in scores:
            best = max(best, score.support(threshold, meaning_weight))
        predicted = best >= threshold
        if row["supported"]:
            tp += predicted
            fn += not predicted
        else:
            fp += predicted
            tn += not predicted
    recall_supported = tp / max(1, tp + fn)
    recall_unsupported = tn / max(1, tn + fp)
    return {
        "balanced_accuracy": round((recall_supported + recall_unsupported) / 2, 3),
        "supported_kept": f"{tp}/{tp + fn}",
        "unsupported_flagged": f"{tn}/{tn + fp}",
        "flag_precision": round(tn / max(1, tn + fn), 3),
    }


def main() -> None:
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        shutil.copytree(DEMO, library / "demo")
        for name, text in EXTRA.items():
            (library / name).write_text(text, encoding="utf-8")
        workbench = fresh_workbench(Path(tmp) / "home")
        workbench.add_folder(library)
        workbench.ingest()
        scored = features(workbench, rows)
        declining = relevance_check(workbench)
    grid = []
    for meaning_weight in (0.2, 0.3, 0.4, 0.5, 0.6):
        for step in range(30, 81, 5):
            result = evaluate(scored, meaning_weight, step / 100)
            grid.append((result["balanced_accuracy"], meaning_weight, step / 100, result))
    grid.sort(key=lambda item: item[0], reverse=True)
    shipped = evaluate(scored, grounding.MEANING_WEIGHT, workbench.settings.support_threshold)
    print(json.dumps({
        "sentences": len(scored),
        "supported": sum(row["supported"] for row, _ in scored),
        "best": [{"meaning_weight": w, "threshold": t, **r} for _, w, t, r in grid[:5]],
        "shipped": {"meaning_weight": grounding.MEANING_WEIGHT,
                    "threshold": workbench.settings.support_threshold, **shipped},
        "decline": declining,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
