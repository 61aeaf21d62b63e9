"""`workbench eval retrieval` on a real slice of BEIR SciFact (shared/eval beside the repo), and
`workbench eval answers` on SQuAD 2.0 data: the official scoring, the sample, a real run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core.evaluation.retrieval import mrr_at, ndcg_at, recall_at
from workbench.core.evaluation.squad import (
    contains_gold,
    exact_match,
    load_squad,
    normalize,
    sample_questions,
    score,
    token_f1,
    write_articles,
)
from workbench.errors import WorkbenchError

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


# -- eval answers: SQuAD 2.0 -----------------------------------------------------------------
HEADLINE = [
    "questions", "model", "em", "f1", "contains", "answerable_declined", "unanswerable_declined",
    "groundedness_answerable", "groundedness_unanswerable", "first_token_ms_p50", "total_ms_p50",
]  # fmt: skip


def test_squad_normalisation_as_the_official_script() -> None:
    # lower-case, punctuation out, then the articles a/an/the, then whitespace collapsed
    assert normalize("The Eiffel Tower!") == "eiffel tower"
    assert normalize("  An apple,  a   day ") == "apple day"
    assert normalize("U.S. state-of-the-art") == "us stateoftheart"  # punctuation goes first
    assert normalize("Theatre and thereabouts") == "theatre and thereabouts"  # whole words only
    assert normalize("...") == ""


def test_squad_exact_match_and_f1_by_hand() -> None:
    assert exact_match("The Eiffel Tower!", ["eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["eiffel tower"]) == 0.0
    assert exact_match("Lyon", ["Paris", "lyon."]) == 1.0  # the best gold answer counts
    # "big red barn" vs "red barn": 2 shared tokens, precision 2/3, recall 1 -> F1 0.8
    assert token_f1("the big red barn", ["a red barn"]) == pytest.approx(0.8)
    # "paris france" vs "france": precision 1/2, recall 1 -> 2/3; vs "lyon": 0
    assert token_f1("Paris, France", ["Lyon", "France"]) == pytest.approx(2 / 3)
    # repeated tokens count once per occurrence on both sides
    assert token_f1("red red", ["red"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("blue", ["red"]) == 0.0


def test_squad_scoring_of_declines_and_unanswerable_questions() -> None:
    declined_unanswerable = score("I could not find anything.", True, [])
    assert (declined_unanswerable.em, declined_unanswerable.f1) == (1.0, 1.0)
    answered_unanswerable = score("In 1889.", False, [])
    assert (answered_unanswerable.em, answered_unanswerable.f1) == (0.0, 0.0)
    assert score("...", False, []).em == 0.0  # an answer, even one that normalises to nothing
    declined_answerable = score("I could not find anything.", True, ["1889"])
    assert (declined_answerable.em, declined_answerable.f1) == (0.0, 0.0)
    assert not declined_answerable.contains
    answered = score("It opened in 1889.", False, ["1889"])
    assert answered.em == 0.0 and answered.contains
    assert answered.f1 == pytest.approx(0.4)  # 1 of 4 tokens: precision 1/4, recall 1


def test_citation_markers_are_not_part_of_the_scored_answer() -> None:
    from datetime import datetime

    from workbench.core.answering.records import AnswerRecord, Timings, Usage
    from workbench.core.evaluation.answers import question_result
    from workbench.core.evaluation.squad import SquadQuestion

    question = SquadQuestion("q", "When was it built?", ("1874",), "Vell_Lighthouse", 0)
    record = AnswerRecord(
        id="a1", created=datetime.now().astimezone(), question=question.question,
        answer="1874 [1].", declined=False, model="m", backend="b", index_version=1,
        usage=Usage(120, 3), timings=Timings(first_token_ms=50.0, total_ms=80.0),
    )  # fmt: skip
    result = question_result(question, record)
    assert (result.em, result.f1, result.contains, result.ran_model) == (1.0, 1.0, True, True)
    assert result.answer == "1874 [1]."  # the details keep the answer as it was written


def test_contains_gold_matches_whole_words() -> None:
    assert contains_gold("It was built by Gustave Eiffel in 1889.", ["1889", "Gustave"])
    assert contains_gold("Built by THE Eiffel company", ["Eiffel Company"])
    assert not contains_gold("It was built in 1889.", ["188"])
    assert not contains_gold("anything", [])


def squad_layout(articles: dict[str, list[tuple[str, list[tuple[str, str, list[str]]]]]]) -> Any:
    """SQuAD 2.0 JSON from {title: [(context, [(id, question, answers)])]}; no answers means
    unanswerable."""
    data = []
    for title, paragraphs in articles.items():
        items = []
        for context, questions in paragraphs:
            qas = [
                {
                    "id": qid,
                    "question": question,
                    "answers": [{"text": a, "answer_start": context.find(a)} for a in answers],
                    "is_impossible": not answers,
                }
                for qid, question, answers in questions
            ]
            items.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": items})
    return {"version": "v2.0", "data": data}


TINY = {
    "Vell_Lighthouse": [
        (
            "The Vell Lighthouse stands on the northern cape of Vell Island. It was built in 1874 "
            "to guide fishing boats past the Harrow Rocks.",
            [
                ("v1", "When was the Vell Lighthouse built?", ["1874", "in 1874"]),
                ("v2", "Which rocks does the Vell Lighthouse guide boats past?", ["Harrow Rocks"]),
            ],
        ),
        (
            "The lighthouse was designed by the engineer Marta Okonkwo, whose granite tower is "
            "31 metres tall.",
            [],
        ),
    ],
    "Copper_Kettle_Bakery": [
        (
            "The Copper Kettle Bakery in Dunmore is known for its rye sourdough, baked in a wood "
            "oven every morning since 1952.",
            [
                ("c1", "What bread is the Copper Kettle Bakery known for?", ["rye sourdough"]),
                ("c2", "Who owns the Copper Kettle Bakery today?", []),
            ],
        )
    ],
}


@pytest.fixture
def tiny_squad(tmp_path: Path) -> Path:
    target = tmp_path / "tiny-squad" / "tiny-squad.json"
    target.parent.mkdir()
    target.write_text(json.dumps(squad_layout(TINY)), encoding="utf-8")
    return target


def test_load_squad_from_a_file_or_its_folder(tiny_squad: Path, tmp_path: Path) -> None:
    from_file = load_squad(tiny_squad)
    assert load_squad(tiny_squad.parent) == from_file
    assert [a.title for a in from_file.articles] == ["Vell_Lighthouse", "Copper_Kettle_Bakery"]
    assert [q.id for q in from_file.questions] == ["v1", "v2", "c1", "c2"]
    assert [q.answerable for q in from_file.questions] == [True, True, True, False]
    assert from_file.questions[0].answers == ("1874", "in 1874")
    (tiny_squad.parent / "other.json").write_text("{}")
    with pytest.raises(WorkbenchError, match="2 .json files"):
        load_squad(tiny_squad.parent)
    (tmp_path / "bad.json").write_text('{"data": [{"title": "x"}]}')
    with pytest.raises(WorkbenchError, match="not in the SQuAD 2.0 layout"):
        load_squad(tmp_path / "bad.json")
    with pytest.raises(WorkbenchError, match="does not exist"):
        load_squad(tmp_path / "nowhere")


def test_articles_become_markdown_files_written_once(tiny_squad: Path, tmp_path: Path) -> None:
    articles = load_squad(tiny_squad).articles
    docs = tmp_path / "docs"
    assert write_articles(articles, docs) == 2
    text = (docs / "Vell_Lighthouse.md").read_text(encoding="utf-8")
    assert text.startswith("# Vell Lighthouse\n\nThe Vell Lighthouse stands")
    assert "Harrow Rocks.\n\nThe lighthouse was designed" in text  # one block per paragraph
    (docs / "Gone.md").write_text("# An article no longer in the dataset\n")
    assert write_articles(articles, docs) == 0  # unchanged files are kept as they are
    assert sorted(p.name for p in docs.glob("*")) == [f"{t}.md" for t in sorted(TINY)]


def test_the_sample_is_seeded_stratified_and_nested() -> None:
    from workbench.core.evaluation.squad import SquadQuestion

    questions = [
        SquadQuestion(f"q{i}", f"question {i}", () if i % 4 == 0 else ("x",), "A", i)
        for i in range(200)
    ]  # a quarter unanswerable
    sample = sample_questions(questions, 40, seed=7)
    assert sample == sample_questions(questions, 40, seed=7)
    assert sample != sample_questions(questions, 40, seed=8)
    assert sum(not q.answerable for q in sample) == 10  # the whole's share, 1 in 4
    assert [q.order for q in sample] == sorted(q.order for q in sample)  # asked in file order
    assert {q.id for q in sample} <= {q.id for q in sample_questions(questions, 80, seed=7)}
    assert len(sample_questions(questions, None, seed=7)) == 200
    assert len(sample_questions(questions, 500, seed=7)) == 200


@pytest.mark.slow
def test_eval_answers_json_contract(make_workbench: Any, tiny_squad: Path, tmp_path: Path) -> None:
    """A real run with the bundled model; the person's answer log stays empty."""
    workbench = make_workbench(scan_model_caches=False, max_answer_tokens=48)
    details = tmp_path / "details.jsonl"
    args = ["eval", "answers", str(tiny_squad.parent), "--json", "--details", str(details)]
    result = CliRunner().invoke(build_cli(), args, obj=workbench)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report)[: len(HEADLINE)] == HEADLINE
    assert report["questions"] == 4 and (report["answerable"], report["unanswerable"]) == (3, 1)
    assert report["model"] == workbench.model().name and report["stopped"] is False
    for key in ("em", "f1", "contains", "answerable_declined", "unanswerable_declined"):
        assert 0.0 <= report[key] <= 1.0, key
    for key in ("groundedness_answerable", "groundedness_unanswerable"):
        assert report[key] is None or 0.0 <= report[key] <= 1.0, key
    if report["ran_model"]:
        assert 0 < report["first_token_ms_p50"] <= report["total_ms_p50"]
    lines = [json.loads(line) for line in details.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["v1", "v2", "c1", "c2"]
    assert lines[3]["gold"] == [] and lines[3]["em"] == float(lines[3]["declined"])
    assert report["em"] == pytest.approx(sum(line["em"] for line in lines) / 4, abs=1e-4)
    assert workbench.answers() == []  # logged in the evaluation's own index only
    again = json.loads(CliRunner().invoke(build_cli(), args, obj=workbench).stdout)
    assert again["index"]["chunks"]["embedded"] == 0  # the index is reused
    assert again["em"] == report["em"] and again["f1"] == report["f1"]  # greedy: the same


@pytest.mark.slow
def test_eval_answers_stops_with_the_questions_answered(
    make_workbench: Any, tiny_squad: Path
) -> None:
    workbench = make_workbench(scan_model_caches=False, max_answer_tokens=48)
    asked: list[str] = []

    def on_progress(progress: Any) -> None:
        if progress.last is not None:
            asked.append(progress.last.id)

    result = workbench.evaluator.answers(
        tiny_squad, on_progress=on_progress, should_stop=lambda: len(asked) >= 2
    )
    assert result.stopped and result.questions == 2 == len(result.results)
    assert [r.id for r in result.results] == asked == ["v1", "v2"]
    assert result.as_json()["questions"] == 2


@pytest.mark.slow
def test_ctrl_c_reports_what_was_answered(tmp_path: Path, tiny_squad: Path) -> None:
    """The installed entry point, interrupted as a person would: a report, exit code 130."""
    many = squad_layout({title: paragraphs * 5 for title, paragraphs in TINY.items()})
    tiny_squad.write_text(json.dumps(many), encoding="utf-8")  # 20 questions: time to interrupt
    exe = Path(sys.executable).parent / "workbench"
    env = dict(os.environ, WORKBENCH_HOME=str(tmp_path / "cli"), WORKBENCH_SCAN_MODEL_CACHES="0")
    process = subprocess.Popen(
        [str(exe), "eval", "answers", str(tiny_squad)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:  # the steps are printed to stderr when it is not a terminal
        if line.startswith("Indexing"):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "Stopping" in stderr and "Traceback" not in stderr
    assert "(stopped early)" in stdout and "Exact match" in stdout
