"""Evidence selection: the sentences of the sources that bear on the question, in budget."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.config import Settings
from workbench.core.answering import answerability, evidence
from workbench.core.answering.grounding import prepare_passages
from workbench.core.answering.rag import ANSWER_INSTRUCTION, build_messages
from workbench.errors import WorkbenchError

NORMANS = (
    "The Normans were the people who gave their name to Normandy, a region in France. "
    "They were descended from Norse raiders and pirates from Denmark, Iceland and Norway. "
    "Their leader Rollo agreed to swear fealty to King Charles III of West Francia. "
    "The distinct cultural identity of the Normans emerged in the first half of the 10th "
    "century. It continued to evolve over the succeeding centuries."
)
GARDEN = (
    "Water tomatoes deeply twice a week. Pinch out the side shoots. "
    "Prune roses in late winter, just above an outward-facing bud."
)


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def passages(embedder: Any) -> Any:
    return prepare_passages([NORMANS, GARDEN], embedder)


def test_the_answering_sentence_is_chosen_within_the_budget(embedder: Any, passages: Any) -> None:
    question = "Who did Rollo swear fealty to?"
    vector = embedder.embed([question])[0]
    picked = evidence.select(vector, question, passages, 30, words)
    assert list(picked) == [0]  # the garden source bears on nothing here
    assert "King Charles III" in picked[0]
    assert sum(words(text) + 1 for text in picked.values()) <= 30
    assert "10th century" not in picked[0]  # no room for the rest


def test_chosen_sentences_keep_document_order_and_mark_gaps(embedder: Any, passages: Any) -> None:
    question = "Where did the Normans come from and when did their identity emerge?"
    vector = embedder.embed([question])[0]
    text = evidence.select(vector, question, passages, 60, words)[0]
    first, later = text.index("Denmark"), text.index("10th century")
    assert first < later  # document order, whatever the scores
    assert evidence.GAP in text[first:later]  # Rollo's sentence was left out between them


def test_a_sentence_too_long_for_what_is_left_gives_way_to_shorter_ones(
    embedder: Any, passages: Any
) -> None:
    question = "How often should tomatoes be watered and when are roses pruned?"
    vector = embedder.embed([question])[0]
    picked = evidence.select(vector, question, passages, 8, words)
    assert picked == {1: "Water tomatoes deeply twice a week."}  # the rose sentence is too long


def test_check_and_answer_prompts_differ_only_at_the_end() -> None:
    blocks = ["[1] The backup runs at 03:30."]
    check = build_messages("When is the backup?", blocks, answerability.CHECK_INSTRUCTION)
    answer = build_messages("When is the backup?", blocks)
    assert check[0] == answer[0]
    shared = answer[1]["content"].removesuffix(ANSWER_INSTRUCTION)
    assert check[1]["content"] == shared + answerability.CHECK_INSTRUCTION  # one KV prefix


@pytest.mark.parametrize(
    ("setting", "model", "expected"),
    [
        (
            "auto",
            "qwen2.5-coder-1.5b-instruct",
            answerability.CALIBRATED.get("qwen2.5-coder-1.5b-instruct"),
        ),
        ("auto", "someone-elses-model", answerability.NEUTRAL),
        (0.0, "qwen2.5-coder-1.5b-instruct", None),  # off
        (0.8, "anything", 0.8),
    ],
)
def test_min_answerable_threshold(setting: Any, model: str, expected: float | None) -> None:
    assert answerability.threshold(setting, model) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_answerable": 1.5}, "min_answerable must be"),
        ({"min_answerable": "sometimes"}, "min_answerable must be"),
        ({"evidence_tokens": 8}, "evidence_tokens must be"),
    ],
)
def test_bad_answer_settings_are_explained(values: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkbenchError, match=message):
        Settings(**values).validate()


def test_answer_settings_from_the_environment(tmp_path: Any) -> None:
    environ = {"WORKBENCH_MIN_ANSWERABLE": "0.6", "WORKBENCH_EVIDENCE_TOKENS": "0"}
    settings = Settings.load(tmp_path / "config.toml", environ)
    assert settings.min_answerable == 0.6 and settings.evidence_tokens == 0
    assert Settings.load(tmp_path / "none.toml", {}).min_answerable == "auto"
