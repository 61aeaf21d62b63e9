"""The grounding check and citation repair, with the real embedder (no chat model needed)."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.core.answering.grounding import (
    check_answer,
    citation_numbers,
    content_words,
    prepare_passages,
    split_sentences,
)
from workbench.core.answering.rag import check_and_cite, choose_sources

ACCOUNT = (
    'Account help > Resetting your password\n\nOpen Settings, choose Security, then "Reset '
    'password". A link is sent to the email address on\nthe account and stays valid for 30 '
    "minutes. If it expires, request a new one."
)
GARDEN = "Garden > Roses\n\nPrune roses in late winter, just above an outward-facing bud."
THRESHOLD = 0.55


@pytest.fixture(scope="module")
def sources(embedder: Any) -> list[Any]:
    from workbench.core.answering.rag import Source

    passages = prepare_passages([ACCOUNT, GARDEN], embedder)
    return [
        Source(1, "a", "/lib/account-help.md", {"lines": [5, 6]}, ACCOUNT, 0.8, passages[0]),
        Source(2, "b", "/lib/garden.md", {"lines": [9, 9]}, GARDEN, 0.4, passages[1]),
    ]


def test_sentences_keep_their_citations_and_list_items() -> None:
    text = "It lasts 30 minutes. [1] Ask again [2].\n\n1. Open Settings.\n2. Choose Security [1]."
    assert split_sentences(text) == [
        "It lasts 30 minutes. [1]",
        "Ask again [2].",
        "1. Open Settings.",
        "2. Choose Security [1].",
    ]
    assert citation_numbers("a [2] b [1, 3] c [2]") == [2, 1, 3]
    assert content_words("The links were valid for 30 minutes") == ["link", "valid", "30", "minut"]


def test_supported_invented_and_off_topic_sentences(sources: list[Any], embedder: Any) -> None:
    answer = (
        "The reset link stays valid for 30 minutes [1]. "
        "The reset link stays valid for 45 minutes [1]. "
        "You can also reset it by calling the support hotline on weekends. "
        "Here is what I found."
    )
    passages = {s.n: s.passage for s in sources}
    report = check_answer(
        answer, "How long is the reset link valid?", passages, embedder, THRESHOLD
    )
    verdicts = [(s.supported, s.source) for s in report.sentences]
    assert verdicts[0] == (True, 1)
    assert verdicts[1][0] is False  # a figure the source does not contain
    assert verdicts[2][0] is False  # nothing in the sources says so
    assert verdicts[3] == (None, None)  # no claim: neutral, not scored
    assert report.groundedness == pytest.approx(1 / 3)
    assert report.unsupported == [
        "The reset link stays valid for 45 minutes.",
        "You can also reset it by calling the support hotline on weekends.",
    ]


def test_citations_are_repaired(sources: list[Any], embedder: Any) -> None:
    question = "When do I prune roses and how long is the reset link valid?"
    raw = (
        "Prune roses in late winter [1]. The reset link is valid for 30 minutes [7]. "
        "Roses love bananas [2]."
    )
    text, report, cited_by = check_and_cite(question, raw, sources, embedder, THRESHOLD)
    assert text == (
        "Prune roses in late winter [2]. The reset link is valid for 30 minutes [1]. "
        "Roses love bananas."
    )  # wrong number fixed, missing source number replaced, unsupported claim uncited
    assert cited_by == "model"
    assert report.unsupported == ["Roses love bananas."]


def test_uncited_answer_gets_citations_from_the_check(sources: list[Any], embedder: Any) -> None:
    raw = "The link stays valid for 30 minutes. The link stays valid for 30 minutes."
    text, report, cited_by = check_and_cite(
        "How long is the link valid?", raw, sources, embedder, THRESHOLD
    )
    assert text == "The link stays valid for 30 minutes [1]."  # the loop is cut too
    assert cited_by == "workbench" and report.groundedness == 1.0


def test_sources_far_below_the_best_are_left_out(sources: list[Any]) -> None:
    assert [s.n for s in choose_sources(sources, min_relevance=0.3)] == [1]
    assert choose_sources(sources, min_relevance=0.9) == []
