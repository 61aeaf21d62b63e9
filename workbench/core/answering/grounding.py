"""Checks an answer against its sources, sentence by sentence, cheaply enough for every answer.

Each source chunk is split into sentences and pairs of neighbouring sentences ("windows"),
embedded with the library's embedder (MiniLM, already loaded for retrieval; window vectors
are cached for the process). An answer sentence is scored against a source by two signals:

- meaning: the best cosine similarity between the sentence and any window of the source;
- words: the weighted share of the sentence's content words (stop words dropped, lightly
  stemmed, number words as digits) that the source contains. Numbers weigh 2, words echoed
  from the question 0.5 (they say little about support), others 1.

support = 0.4 * meaning + 0.6 * words, capped below the threshold when the sentence states a
number the source lacks (made-up figures are the commonest error of small models and
embeddings barely see them) or adds 6 or more words the source lacks. A sentence is
supported when its cited source, or failing that any other retrieved source, reaches the
threshold (0.55). Questions and sentences that only restate the question are neutral.
groundedness = supported / scored sentences. Weights and threshold were chosen on labelled
answer sentences (bench/grounding_threshold.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MEANING_WEIGHT = 0.4
NUMBER_WEIGHT = 2.0  # a figure is the most checkable part of a claim
QUESTION_WORD_WEIGHT = 0.5  # words echoed from the question say little about support
MAX_MISSING_WORDS = 6  # a sentence adding this many words its source lacks says something else
CAP = 0.9  # x threshold: where a sentence with either of the above is capped (unsupported)
MIN_WINDOW_CHARS = 12

_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9*-])|\n+")
_LEADING_CITATIONS = re.compile(r"\s*(?:\[\d{1,3}(?:\s*,\s*\d{1,3})*\]\s*)+")
_LIST_MARKER = re.compile(r"\s*(?:\d{1,2}[.)]|[-*•])\s*")
_LIST_PREFIX = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")
_WORD = re.compile(r"[a-z0-9]+(?:[.:,'][a-z0-9]+)*")
_NUMBER = re.compile(r"\d")
_LETTER = re.compile(r"[a-z]")
STOPWORDS = frozenset(
    "a an the and or but if then else of to in on at by for with from into onto over under "
    "about as is are was were be been being am do does did doing done have has had having it "
    "its this that these those there here what which who whom whose when where why how all any "
    "both each few more most other some such no nor not only own same so than too very can "
    "will just should would could may might must shall i me my we our you your he him his she "
    "her they them their one also up out off again further once answer question source sources "
    "based according provided information following text says said found find sure hope "
    "let know need needs use using make get want like way well able".split()
)

# "one" stays a stop word: it is far more often a pronoun ("a new one") than a figure.
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero _ two three four five six seven eight nine ten eleven twelve".split()
    )
    if word != "_"
}


def citation_numbers(text: str) -> list[int]:
    """Every source number cited in ``text`` ([1], [2, 3]), in order, without repeats."""
    numbers: list[int] = []
    for match in _CITATION.finditer(text):
        for part in match.group(1).split(","):
            number = int(part)
            if number not in numbers:
                numbers.append(number)
    return numbers


def strip_citations(text: str) -> str:
    return re.sub(r"\s+([.,;!?])", r"\1", _CITATION.sub("", text)).strip()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or list item; a citation after a sentence stays with it."""
    spans: list[tuple[int, int]] = []
    start = 0
    for boundary in [*_SENTENCE_END.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        piece = text[start:end]
        if boundary and _LIST_MARKER.fullmatch(piece):  # "1." of "1. Open Settings."
            continue
        leading = _LEADING_CITATIONS.match(piece)
        if leading and spans:  # "... 30 minutes. [1] Next" -> the [1] closes the sentence
            spans[-1] = (spans[-1][0], start + len(leading.group(0).rstrip()))
            start += leading.end()
            piece = text[start:end]
        if piece.strip():
            offset = len(piece) - len(piece.lstrip())
            spans.append((start + offset, start + len(piece.rstrip())))
        start = boundary.end() if boundary else len(text)
    return spans


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of ``text`` (see ``sentence_spans``)."""
    return [text[a:b] for a, b in sentence_spans(text)]


def content_words(text: str) -> list[str]:
    """Lower-case words and numbers minus stop words, lightly stemmed (plural, -ing, -ed);
    number words are written as digits, so "two engineers" matches "2 engineers"."""
    words = []
    for word in _WORD.findall(text.lower()):
        word = word.strip(".:,'")
        word = NUMBER_WORDS.get(word, word)
        if word and word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            words.append(_stem(word))
    return words


def _stem(word: str) -> str:
    if _NUMBER.search(word):
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@dataclass
class Passage:
    """One source prepared for scoring: its windows, their vectors and its words."""

    text: str
    windows: list[str]
    vectors: np.ndarray  # (len(windows) + 1, dim): the windows, then the whole chunk
    words: frozenset[str]


def windows_of(text: str) -> list[str]:
    """Sentences and pairs of neighbouring sentences of a source chunk."""
    sentences = [s for s in split_sentences(text) if len(s) >= MIN_WINDOW_CHARS]
    pairs = [f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False)]
    return sentences + pairs


def prepare_passages(
    texts: Sequence[str],
    embedder: Any,
    chunk_vectors: Sequence[Any] | None = None,
    cache: dict[str, np.ndarray] | None = None,
) -> list[Passage]:
    """Embed every window of ``texts`` in one batch (``cache`` keeps vectors across calls)."""
    cache = {} if cache is None else cache
    all_windows = [windows_of(text) for text in texts]
    missing = sorted({w for ws in all_windows for w in ws} - set(cache))
    if missing:
        cache.update(zip(missing, embedder.embed(missing), strict=True))
    if chunk_vectors is None:
        chunk_vectors = list(embedder.embed(list(texts)))
    passages = []
    for text, windows, chunk_vector in zip(texts, all_windows, chunk_vectors, strict=True):
        rows = [cache[w] for w in windows] + [np.asarray(chunk_vector, dtype=np.float32)]
        passages.append(Passage(text, windows, np.vstack(rows), frozenset(content_words(text))))
    return passages


def relevance(query_vector: np.ndarray, passage: Passage) -> float:
    """How well a source matches the question: best cosine over its windows and whole chunk."""
    return float(np.max(passage.vectors @ query_vector))


@dataclass
class SentenceCheck:
    """The verdict on one answer sentence."""

    text: str
    cited: list[int]
    support: float | None  # None: no new content to check (neutral)
    source: int | None  # the source number that supports it best
    supported: bool | None
    meaning: float = 0.0
    words: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "cited": self.cited,
            "support": None if self.support is None else round(self.support, 3),
            "source": self.source,
            "supported": self.supported,
        }


@dataclass
class GroundingReport:
    """Per-sentence verdicts and the answer's groundedness in [0, 1]."""

    sentences: list[SentenceCheck] = field(default_factory=list)

    @property
    def scored(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.supported is not None]

    @property
    def groundedness(self) -> float:
        scored = self.scored
        if not scored:
            return 0.0
        return sum(bool(s.supported) for s in scored) / len(scored)

    @property
    def unsupported(self) -> list[str]:
        return [s.text for s in self.sentences if s.supported is False]


@dataclass(frozen=True)
class Score:
    """How well one source backs one answer sentence."""

    meaning: float  # best cosine between the sentence and a window of the source
    words: float  # weighted share of the sentence's content words found in the source
    missing_number: bool  # the sentence states a number the source does not contain
    missing_words: int = 0  # distinct new content words the source does not contain

    def support(self, threshold: float, meaning_weight: float = MEANING_WEIGHT) -> float:
        value = meaning_weight * self.meaning + (1 - meaning_weight) * self.words
        if self.missing_number or self.missing_words >= MAX_MISSING_WORDS:
            return min(value, threshold * CAP)
        return value


def score_sentence(
    sentence: str, vector: np.ndarray, passage: Passage, question_words: set[str]
) -> Score:
    """Score one answer sentence (citations stripped) against one source."""
    meaning = max(0.0, float(np.max(passage.vectors @ vector)))
    words = content_words(_LIST_PREFIX.sub("", sentence))
    weights = [_weight(word, question_words) for word in words]
    found = sum(wt for word, wt in zip(words, weights, strict=True) if word in passage.words)
    coverage = found / sum(weights) if sum(weights) else 0.0
    missing_number = any(is_number(word) and word not in passage.words for word in words)
    missing = {w for w in words if w not in question_words and w not in passage.words}
    return Score(meaning, coverage, missing_number, len(missing))


def is_number(word: str) -> bool:
    """Figures and codes: 12, 4.1, 07:40, q3, a100 (but not words like 2fa or mp3s)."""
    return bool(_NUMBER.search(word)) and len(_LETTER.findall(word)) <= 1


def _weight(word: str, question_words: set[str]) -> float:
    if is_number(word):
        return NUMBER_WEIGHT
    return QUESTION_WORD_WEIGHT if word in question_words else 1.0


def check_answer(
    answer: str,
    question: str,
    passages: dict[int, Passage],
    embedder: Any,
    threshold: float,
) -> GroundingReport:
    """Score every sentence of ``answer`` against the sources it cites, then all sources."""
    sentences = split_sentences(answer)
    question_words = set(content_words(question))
    plain = [strip_citations(s) for s in sentences]
    claims = [i for i, text in enumerate(plain) if _has_claim(text, question_words)]
    vectors = embedder.embed([plain[i] for i in claims]) if claims else np.zeros((0, 1))
    report = GroundingReport()
    vector_of = dict(zip(claims, vectors, strict=True))
    for index, sentence in enumerate(sentences):
        cited = [n for n in citation_numbers(sentence) if n in passages]
        if index not in vector_of:
            report.sentences.append(SentenceCheck(plain[index], cited, None, None, None))
            continue
        report.sentences.append(
            _judge(plain[index], vector_of[index], cited, passages, question_words, threshold)
        )
    return report


def _judge(
    text: str,
    vector: np.ndarray,
    cited: list[int],
    passages: dict[int, Passage],
    question_words: set[str],
    threshold: float,
) -> SentenceCheck:
    scores = {n: score_sentence(text, vector, p, question_words) for n, p in passages.items()}
    support = {n: score.support(threshold) for n, score in scores.items()}
    # The cited source wins when it supports the sentence; otherwise the best retrieved one.
    order = sorted(cited, key=lambda n: -support[n]) + sorted(
        (n for n in passages if n not in cited), key=lambda n: -support[n]
    )
    if not order:
        return SentenceCheck(text, cited, 0.0, None, False)
    best = next((n for n in order if support[n] >= threshold), None)
    pick = best if best is not None else max(order, key=lambda n: support[n])
    return SentenceCheck(
        text, cited, support[pick], pick, best is not None, scores[pick].meaning,
        scores[pick].words,
    )  # fmt: skip


def _has_claim(text: str, question_words: set[str]) -> bool:
    """Questions and sentences that only restate the question claim nothing."""
    if text.rstrip().endswith("?"):
        return False
    return any(w not in question_words for w in content_words(_LIST_PREFIX.sub("", text)))
