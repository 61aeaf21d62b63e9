"""`workbench eval retrieval` on a real slice of BEIR SciFact (shared/eval beside the repo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core.evaluation import mrr_at, ndcg_at, recall_at

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact"


def test_metrics_by_hand() -> None:
    relevant = {"a": 1, "b": 1}
    assert ndcg_at(["a", "b", "c"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at(["c", "a"], relevant, 10) == pytest.approx(
        (1 / 1.58496) / (1 + 1 / 1.58496), rel=1e-4
    )
    assert recall_at(["c", "a"], relevant, 100) == 0.5
    assert mrr_at(["c", "d", "b"], relevant, 10) == pytest.approx(1 / 3)
    assert mrr_at(["c"], relevant, 10) == 0.0


def make_slice(target: Path, queries: int = 25, distractors: int = 150) -> None:
    """A small BEIR dataset: the first test queries, their relevant docs, and other docs."""
    qrels = [
        line.split("\t") for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]
    ]
    chosen = sorted({q for q, _, _ in qrels}, key=int)[:queries]
    rows = [row for row in qrels if row[0] in chosen]
    needed = {doc for _, doc, _ in rows}
    docs = []
    with (SCIFACT / "corpus.jsonl").open() as handle:
        for line in handle:
            doc = json.loads(line)
            if doc["_id"] in needed or len(docs) < len(needed) + distractors:
                docs.append(line)
    (target / "qrels").mkdir(parents=True)
    (target / "corpus.jsonl").write_text("".join(docs))
    (target / "queries.jsonl").write_text((SCIFACT / "queries.jsonl").read_text())
    (target / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "\n".join("\t".join(r) for r in rows) + "\n"
    )


@pytest.mark.slow
@pytest.mark.skipif(not SCIFACT.is_dir(), reason="shared/eval/scifact is not beside the repo")
def test_eval_retrieval_json_contract(workbench: Any, tmp_path: Path) -> None:
    dataset = tmp_path / "scifact-slice"
    make_slice(dataset)
    runner = CliRunner()
    result = runner.invoke(
        build_cli(), ["eval", "retrieval", str(dataset), "--json"], obj=workbench
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"ndcg@10", "recall@100", "mrr@10", "queries", "mode", "by_mode"} <= set(report)
    assert report["queries"] == 25 and report["mode"] == "hybrid"
    assert set(report["by_mode"]) == {"hybrid", "vector", "text"}
    # On a few hundred abstracts every mode should find the claims' sources near the top.
    for scores in report["by_mode"].values():
        assert scores["ndcg@10"] > 0.6 and scores["recall@100"] > 0.85
    # A second run reuses the index: nothing embedded.
    again = json.loads(
        runner.invoke(
            build_cli(), ["eval", "retrieval", str(dataset), "--json"], obj=workbench
        ).stdout
    )
    assert again["index"]["chunks"]["embedded"] == 0
    assert again["by_mode"] == {
        mode: {**scores, "ms_per_query": again["by_mode"][mode]["ms_per_query"]}
        for mode, scores in report["by_mode"].items()
    }


def test_not_a_dataset_says_what_is_missing(workbench: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(build_cli(), ["eval", "retrieval", str(tmp_path)], obj=workbench)
    assert result.exit_code == 1
    assert "corpus.jsonl is missing" in result.stderr
