"""SQuAD 2.0 data: loading, the seeded sample, the articles as markdown, and the official scoring.

Scoring follows the official evaluation script (``evaluate-v2.0.py``): answers are lower-cased,
stripped of punctuation and of the articles a/an/the, and their whitespace collapsed; exact
match and token F1 are the best over the gold answers. An unanswerable question has the empty
string as its only gold answer, so declining (predicting "") scores 1 and anything else 0.
"""

from __future__ import annotations

import collections
import json
import random
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


@dataclass(frozen=True)
class SquadQuestion:
    """One question of the dataset, with its gold answers (none when it is unanswerable)."""

    id: str
    question: str
    answers: tuple[str, ...]
    article: str
    order: int  # position in the file: a sample is asked in this order

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class SquadArticle:
    title: str
    paragraphs: tuple[str, ...]

    def markdown(self) -> str:
        """The article as a library file: its title as a heading, one block per paragraph."""
        blocks = [f"# {self.title.replace('_', ' ')}", *(p.strip() for p in self.paragraphs)]
        return "\n\n".join(blocks) + "\n"


@dataclass(frozen=True)
class SquadDataset:
    path: Path  # the JSON file
    articles: tuple[SquadArticle, ...]
    questions: tuple[SquadQuestion, ...]


def find_dataset_file(source: str | Path) -> Path:
    """The SQuAD JSON file ``source`` names: the file itself, or the one .json in a folder."""
    path = Path(source).expanduser().resolve()
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted(path.glob("*.json"))
        if len(found) == 1:
            return found[0]
        what = "no .json file" if not found else f"{len(found)} .json files"
        raise WorkbenchError(
            f"{path} holds {what}. Give the SQuAD 2.0 JSON file itself, e.g. "
            f"`workbench eval answers {path / 'dev-v2.0.json'}`.",
            "Not a SQuAD dataset",
        )
    raise WorkbenchError(f"{path} does not exist. Check the path.", "Not a SQuAD dataset")


def load_squad(source: str | Path) -> SquadDataset:
    """Read a SQuAD-2.0-layout JSON file (or the folder holding one)."""
    path = find_dataset_file(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _parse(path, data["data"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WorkbenchError(
            f"{path} is not in the SQuAD 2.0 layout ({type(exc).__name__}: {exc}). Expected "
            '{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", '
            '"answers"}]}]}]}.',
            "Not a SQuAD dataset",
        ) from None


def _parse(path: Path, data: list[dict[str, Any]]) -> SquadDataset:
    articles = []
    questions: list[SquadQuestion] = []
    for article in data:
        title = str(article["title"])
        paragraphs = article["paragraphs"]
        articles.append(SquadArticle(title, tuple(p["context"] for p in paragraphs)))
        for paragraph in paragraphs:
            for qa in paragraph["qas"]:
                # As the official script: gold answers that normalise to nothing do not count.
                golds = tuple(a["text"] for a in qa.get("answers", []) if normalize(a["text"]))
                questions.append(
                    SquadQuestion(str(qa["id"]), qa["question"], golds, title, len(questions))
                )
    if not questions:
        raise ValueError("no questions")
    return SquadDataset(path, tuple(articles), tuple(questions))


def sample_questions(
    questions: tuple[SquadQuestion, ...] | list[SquadQuestion], limit: int | None, seed: int
) -> list[SquadQuestion]:
    """A seeded sample of ``limit`` questions (all when None or not fewer), in file order.

    Stratified: answerable and unanswerable questions keep their share of the whole. Each kind
    is shuffled once by the seed and the sample takes a prefix of each, so a larger limit with
    the same seed extends a smaller one.
    """
    if limit is None or limit >= len(questions):
        return sorted(questions, key=lambda q: q.order)
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    for group in (answerable, unanswerable):
        random.Random(seed).shuffle(group)
    unanswerable_count = round(limit * len(unanswerable) / len(questions))
    chosen = answerable[: limit - unanswerable_count] + unanswerable[:unanswerable_count]
    return sorted(chosen, key=lambda q: q.order)


def write_articles(articles: tuple[SquadArticle, ...], folder: Path) -> int:
    """One ``<title>.md`` per article; unchanged files are kept (their mtime too), so a second
    run re-indexes nothing, and files of articles no longer in the dataset are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f"{_file_stem(article.title)}.md": article.markdown() for article in articles}
    for stale in folder.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()
    written = 0
    for name, body in wanted.items():
        target = folder / name
        if not target.exists() or target.read_text(encoding="utf-8") != body:
            target.write_text(body, encoding="utf-8")
            written += 1
    return written


def _file_stem(title: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in title)


# -- the official scoring -------------------------------------------------------------------------
def normalize(text: str) -> str:
    """Lower-case, remove punctuation, remove the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """1.0 when ``prediction`` normalises to one of ``golds`` ("" when unanswerable)."""
    return max(float(normalize(prediction) == normalize(gold)) for gold in golds or [""])


def token_f1(prediction: str, golds: tuple[str, ...] | list[str]) -> float:
    """The best token-overlap F1 between ``prediction`` and a gold answer."""
    predicted = normalize(prediction).split()
    return max(_f1(predicted, normalize(gold).split()) for gold in golds or [""])


def _f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)  # a no-answer is right only against a no-answer
    same = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def contains_gold(prediction: str, golds: tuple[str, ...] | list[str]) -> bool:
    """Whether the normalised prediction holds a normalised gold answer as whole words
    (long answers score low on EM and F1 by construction; this asks whether it is in there)."""
    padded = f" {normalize(prediction)} "
    return any(f" {normalize(gold)} " in padded for gold in golds if normalize(gold))


@dataclass(frozen=True)
class Score:
    em: float
    f1: float
    contains: bool


def score(answer: str, declined: bool, golds: tuple[str, ...] | list[str]) -> Score:
    """How ``answer`` scores against ``golds`` (none: the question is unanswerable).

    A declined answer is the official no-answer (""): right only for an unanswerable question.
    An answer given to an unanswerable question is wrong, even one that normalises to nothing.
    """
    if not golds:
        return Score(float(declined), float(declined), False)
    if declined:
        return Score(0.0, 0.0, False)
    return Score(exact_match(answer, golds), token_f1(answer, golds), contains_gold(answer, golds))
