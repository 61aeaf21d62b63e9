"""Grounded answers: retrieve, decide whether the library can answer, pack numbered sources
into the model's window, stream the answer, then check and fix its citations.

The model is never asked when retrieval finds nothing relevant enough: the answer says so
instead. The sources it is shown are the sentences that bear on the question
(``evidence.py``), and before answering it is asked whether they state the answer at all
(``answerability.py``): below the threshold the answer is declined, naming the closest
sources. After generation every sentence is checked against the sources (``grounding.py``);
citation numbers that name no source are dropped, a supported sentence cites the source
that supports it, and an unsupported one cites nothing and is reported in ``unsupported``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.backends.remote.receipts import describing
from workbench.core import telemetry
from workbench.core.answering import evidence
from workbench.core.answering.answerability import CHECK_INSTRUCTION, YesNoJudge
from workbench.core.answering.chat import ChatModel, ChatParams, Completion
from workbench.core.answering.grounding import (
    GroundingReport,
    Passage,
    check_answer,
    prepare_passages,
    relevance,
    sentence_spans,
    strip_citations,
)
from workbench.core.answering.models import BUNDLED_NAME
from workbench.core.index.search import SearchResult, search
from workbench.core.index.store import Store, sql_in
from workbench.core.telemetry import genai

SYSTEM_PROMPT = "You answer questions using only the numbered sources you are given."
ANSWER_INSTRUCTION = (
    "Answer the question in one short sentence using the exact words of the sources, and cite "
    "the source like [1]."
)
# SmolLM2-135M follows instructions in the system prompt with the question last, and answers
# the above with "The answer to the question is:."; the Qwen models keep closer to the
# sources' words with the instruction after the question (README, "Answer quality").
INSTRUCTION_IN_SYSTEM = frozenset({BUNDLED_NAME})
SYSTEM_INSTRUCTED_PROMPT = (
    "You answer questions from the provided sources only. Answer in one or two sentences and "
    "cite the source number like [1]."
)
SOURCE_MARGIN = 0.12  # sources this far below the best one are left out of the prompt
PROMPT_RESERVE = 16  # tokens kept free besides the answer, for the template's edges
MIN_SOURCE_TOKENS = 48  # a source cut shorter than this is not worth including
DECLINE_TEXT = (
    "I could not find anything in your library that answers this, so I will not guess. "
    "Try other words, or check that the right folders are indexed (`workbench status`)."
)
NOT_STATED_TEXT = (
    "Your library has passages on this, but they do not say the answer, so I will not guess. "
    "The closest sources are listed below: ask about what they do say, or add the folder "
    "that holds the answer."
)
NO_RELEVANT_SOURCES, NOT_STATED = "no_relevant_sources", "not_stated"
_CITATION = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_LIST_PREFIX = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")
# "Question:" on a line of its own, or after a finished sentence: where an echo would start.
_ECHO_START = re.compile(r"(?:\n|(?<=[.!?\]])[ \t]+)\s*Question\s*:", re.IGNORECASE)


@dataclass
class Source:
    """A retrieved chunk offered to the model as source number ``n``."""

    n: int
    id: str
    path: str
    locator: dict[str, Any]
    text: str
    relevance: float
    passage: Passage

    def as_citation(self) -> dict[str, Any]:
        return {"n": self.n, "path": self.path, "locator": self.locator, "text": self.text}


@dataclass
class AskProgress:
    """Reported to ``on_progress``: retrieve, load, prompt, generate, check."""

    phase: str


@dataclass
class Retrieval:
    sources: list[Source]  # every retrieved chunk, most relevant first
    best: float  # relevance of the best chunk (0 when none)
    ms: float
    query_vector: np.ndarray | None = None  # the question's embedding


@dataclass
class Answer:
    """An answer with its checks; ``as_json`` gives the `ask --json` contract fields."""

    question: str
    text: str
    citations: list[dict[str, Any]]
    report: GroundingReport | None
    declined: bool
    sources: list[Source]
    completion: Completion | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    cited_by: str = "model"  # or "workbench": the model cited nothing, citations were matched
    retrieve_ms: float = 0.0
    load_ms: float = 0.0
    first_token_ms: float = 0.0  # from the start of the question to the first answer token
    check_ms: float = 0.0
    best_relevance: float = 0.0
    answerability: float | None = None  # P(yes) of the answerability check; None: not checked
    answerable_ms: float = 0.0
    answerable_tokens: int = 0
    declined_because: str | None = None

    @property
    def ran_model(self) -> bool:
        return self.completion is not None or self.answerability is not None


def retrieve(
    store: Store,
    embedder: Any,
    question: str,
    *,
    k: int,
    rrf_k: int = 60,
    vector_cache: dict[str, np.ndarray] | None = None,
) -> Retrieval:
    """Hybrid search for ``k`` chunks, each scored for relevance to the question."""
    started = time.perf_counter()
    with genai.embedding(embedder, 1):
        query = embedder.embed([question])[0]  # once: for the search and for relevance
    hits = search(store, embedder, question, k=k, mode="hybrid", rrf_k=rrf_k, query_vector=query)
    if not hits:
        return Retrieval([], 0.0, (time.perf_counter() - started) * 1000, query)
    stored = chunk_vectors(store, [hit.id for hit in hits])
    passages = prepare_passages(
        [hit.text for hit in hits], embedder, [stored[hit.id] for hit in hits], vector_cache
    )
    scored = sorted(
        zip(hits, passages, strict=True), key=lambda pair: -relevance(query, pair[1])
    )  # most relevant first: small models read the first source most closely
    sources = [_source(n, hit, p, relevance(query, p)) for n, (hit, p) in enumerate(scored, 1)]
    return Retrieval(sources, sources[0].relevance, (time.perf_counter() - started) * 1000, query)


def chunk_vectors(store: Store, ids: list[str]) -> dict[str, np.ndarray]:
    """The stored vectors of these chunks (no re-embedding)."""
    table = (
        store.chunks.search().where(sql_in("id", ids)).select(["id", "vector"]).limit(None)
    ).to_arrow()
    vectors = table.column("vector").to_pylist()
    return {
        key: np.asarray(vector, dtype=np.float32)
        for key, vector in zip(table.column("id").to_pylist(), vectors, strict=True)
    }


def _source(n: int, hit: SearchResult, passage: Passage, score: float) -> Source:
    return Source(n, hit.id, hit.path, hit.locator, hit.text, score, passage)


def choose_sources(sources: list[Source], min_relevance: float) -> list[Source]:
    """The sources worth showing the model: relevant, and not far behind the best one."""
    if not sources:
        return []
    floor = max(min_relevance, sources[0].relevance - SOURCE_MARGIN)
    return [s for s in sources if s.relevance >= floor]


def build_messages(
    question: str, blocks: list[str], instruction: str = ANSWER_INSTRUCTION, model: str = ""
) -> list[dict[str, str]]:
    """The prompt: numbered sources, the question, then what to do (answer, or judge whether
    the sources answer it). Only the end differs, so both share a KV-cache prefix."""
    user = "Sources:\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"
    if model in INSTRUCTION_IN_SYSTEM:
        tail = "" if instruction == ANSWER_INSTRUCTION else f"\n\n{instruction}"
        return [{"role": "system", "content": SYSTEM_INSTRUCTED_PROMPT},
                {"role": "user", "content": user + tail}]  # fmt: skip
    user += f"\n\n{instruction}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def pack_sources(
    question: str,
    sources: list[Source],
    model: ChatModel,
    answer_tokens: int,
    *,
    evidence_tokens: int = 0,
    query_vector: np.ndarray | None = None,
) -> tuple[list[str], list[Source]]:
    """Numbered source blocks that fit the window, counted by the model's tokenizer.

    With ``evidence_tokens`` (and the question's vector), the blocks are the sentences that
    bear on the question, that many tokens in all (``evidence.select``). Otherwise sources go
    whole in relevance order; the first that does not fit is cut to the room left (when that
    leaves a useful amount), and the rest are left out.
    """
    budget = model.context_size - answer_tokens - PROMPT_RESERVE
    budget -= model.prompt_tokens(build_messages(question, []))
    if evidence_tokens > 0 and query_vector is not None:
        picked = evidence.select(
            query_vector, question, [s.passage for s in sources], min(evidence_tokens, budget),
            model.count_tokens,
        )  # fmt: skip
        shown = [_renumbered(sources[i], n) for n, i in enumerate(picked, 1)]
        if picked:  # else every sentence is longer than the budget: whole chunks, cut to fit
            return [f"[{s.n}] {picked[i]}" for s, i in zip(shown, picked, strict=True)], shown
    blocks: list[str] = []
    used: list[Source] = []
    for source in sources:
        block = f"[{len(used) + 1}] {source.text.strip()}"
        cost = model.count_tokens(block) + 2  # the blank line between sources
        if cost > budget:
            if budget < MIN_SOURCE_TOKENS:
                break
            block = model.truncate(block, budget - 2)
            cost = budget
        blocks.append(block)
        used.append(_renumbered(source, len(used) + 1))
        budget -= cost
    return blocks, used


def _renumbered(source: Source, n: int) -> Source:
    return Source(n, source.id, source.path, source.locator, source.text, source.relevance,
                  source.passage)  # fmt: skip


@dataclass(frozen=True)
class AnswerPolicy:
    """How an answer is made and checked (from the settings; recorded with every answer)."""

    min_relevance: float  # decline without the model below this best-source relevance
    support_threshold: float  # an answer sentence below this is flagged unsupported
    evidence_tokens: int = 0  # sources as their best sentences, this many tokens; 0: whole
    min_answerable: float | None = None  # decline below this P(yes); None: no check


def answer_question(
    question: str,
    retrieval: Retrieval,
    load_model: Callable[[], ChatModel],
    params: ChatParams,
    embedder: Any,
    policy: AnswerPolicy,
    *,
    on_token: Callable[[str], None] = lambda text: None,
    on_progress: Callable[[AskProgress], None] = lambda progress: None,
    should_stop: Callable[[], bool] = lambda: False,
    started: float | None = None,
) -> Answer:
    """Answer ``question`` from ``retrieval``; the model is loaded only when it is needed.

    ``started`` (a ``time.perf_counter()`` value) is when the question was asked, so the
    time to first token covers retrieval and loading too; it defaults to now.
    """
    started = time.perf_counter() if started is None else started
    chosen = choose_sources(retrieval.sources, policy.min_relevance)
    if not chosen:
        return Answer(
            question, DECLINE_TEXT, [], None, True, [], retrieve_ms=retrieval.ms,
            best_relevance=retrieval.best, declined_because=NO_RELEVANT_SOURCES,
        )  # fmt: skip
    on_progress(AskProgress("load"))
    load_started = time.perf_counter()
    model = load_model()
    load_ms = (time.perf_counter() - load_started) * 1000
    blocks, used = pack_sources(
        question, chosen, model, params.max_tokens, evidence_tokens=policy.evidence_tokens,
        query_vector=retrieval.query_vector,
    )  # fmt: skip
    messages = build_messages(question, blocks, model=model.name)
    with describing(chunks=sent_chunks(blocks, used)):  # on a remote backend's receipts
        verdict = judge(question, blocks, model, policy.min_answerable, on_progress)
        if verdict.declined:
            return _not_stated(question, used, messages, retrieval, verdict, load_ms, started)
        on_progress(AskProgress("generate"))
        chat_started = time.perf_counter()
        completion = model.chat(messages, params, on_token=on_token, should_stop=should_stop)
    first_token_ms = (chat_started - started) * 1000 + completion.first_token_ms
    on_progress(AskProgress("check"))
    check_started = time.perf_counter()
    with telemetry.span("grounding check") as current:
        text, report, cited_by = check_and_cite(
            question, completion.text, used, embedder, policy.support_threshold
        )
        if current.is_recording():
            current.set_attribute("workbench.answer.groundedness", report.groundedness)
            current.set_attribute("workbench.answer.sentences", len(report.sentences))
    cited = sorted({n for sentence in report.sentences for n in sentence.cited})
    by_n = {s.n: s for s in used}
    return Answer(
        question, text, [by_n[n].as_citation() for n in cited], report, False, used,
        completion, messages, cited_by, retrieval.ms, load_ms, first_token_ms,
        (time.perf_counter() - check_started) * 1000, retrieval.best, verdict.p_yes,
        verdict.ms, verdict.tokens,
    )  # fmt: skip


def _not_stated(
    question: str,
    used: list[Source],
    messages: list[dict[str, str]],
    retrieval: Retrieval,
    verdict: Verdict,
    load_ms: float,
    started: float,
) -> Answer:
    """The declined answer when the sources do not state the answer (``judge``)."""
    return Answer(
        question, NOT_STATED_TEXT, [s.as_citation() for s in used], None, True, used, None,
        messages,
        retrieve_ms=retrieval.ms, load_ms=load_ms,
        first_token_ms=(time.perf_counter() - started) * 1000, best_relevance=retrieval.best,
        answerability=verdict.p_yes, answerable_ms=verdict.ms, answerable_tokens=verdict.tokens,
        declined_because=NOT_STATED,
    )  # fmt: skip


def sent_chunks(blocks: list[str], used: list[Source]) -> list[dict[str, Any]]:
    """Which chunks a prompt carries, and the size and hash of the text taken from each."""
    return [
        {"n": source.n, "chunk": source.id, "path": source.path, "bytes": len(block.encode()),
         "sha256": hashlib.sha256(block.encode()).hexdigest()}
        for block, source in zip(blocks, used, strict=True)
    ]  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """The answerability check's outcome (``p_yes`` None: not checked)."""

    p_yes: float | None = None
    declined: bool = False
    ms: float = 0.0
    tokens: int = 0


def judge(
    question: str,
    blocks: list[str],
    model: ChatModel,
    min_answerable: float | None,
    on_progress: Callable[[AskProgress], None],
) -> Verdict:
    """Ask the model whether ``blocks`` state the answer (when it can say, and the check is on).

    The check's prompt is the answer's with another last line, so the answer that follows
    reuses its KV cache for everything but that line.
    """
    if min_answerable is None or not isinstance(model, YesNoJudge):
        return Verdict()
    on_progress(AskProgress("judge"))
    started = time.perf_counter()
    check = build_messages(question, blocks, CHECK_INSTRUCTION, model.name)
    p_yes = model.yes_probability(check)
    ms = (time.perf_counter() - started) * 1000
    return Verdict(round(p_yes, 4), p_yes < min_answerable, ms, model.prompt_tokens(check))


def check_and_cite(
    question: str, raw: str, sources: list[Source], embedder: Any, threshold: float
) -> tuple[str, GroundingReport, str]:
    """Check ``raw`` sentence by sentence and rewrite its citation markers to match.

    Returns the answer with checked markers, the report (each sentence's ``cited`` then holds
    the final markers) and who chose the citations: "model" or "workbench".
    """
    text = _dedupe_sentences(strip_echo(raw, question).strip())
    passages = {s.n: s.passage for s in sources}
    report = check_answer(text, question, passages, embedder, threshold)
    model_cited = any(s.cited for s in report.sentences)
    pieces: list[str] = []
    last = 0
    for (start, end), sentence in zip(sentence_spans(text), report.sentences, strict=True):
        pieces.append(text[last:start])
        # A supported sentence cites the source that supports it; an unsupported one, nothing.
        supported = sentence.supported and sentence.source is not None
        sentence.cited = [sentence.source] if supported and sentence.source else []
        pieces.append(with_markers(text[start:end], sentence.cited))
        last = end
    pieces.append(text[last:])
    return "".join(pieces).strip(), report, "model" if model_cited else "workbench"


def strip_echo(text: str, question: str) -> str:
    """``text`` without a trailing echo of the prompt's "Question: ..." line.

    Small models often end an answer by repeating (or inventing) the prompt's last line. A
    "Question:" line is cut to the end; "Question:" after a sentence on the same line is cut
    only when what follows is the question (or the start of it, where generation stopped).
    """
    asked = _words(question)
    for match in _ECHO_START.finditer(text):
        before = text[: match.start()].rstrip()
        echoed = _words(text[match.end() :])
        own_line = match.group(0).startswith("\n")
        if before and (own_line or asked.startswith(echoed) or echoed.startswith(asked)):
            return before
    return text


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def with_markers(sentence: str, numbers: list[int]) -> str:
    """``sentence`` with its own markers replaced by ``numbers``, before the final stop."""
    bare = _CITATION.sub("", sentence).rstrip()
    if not numbers:
        return bare
    markers = "".join(f"[{n}]" for n in numbers)
    if bare and bare[-1] in ".!?:;":
        return f"{bare[:-1]} {markers}{bare[-1]}"
    return f"{bare} {markers}"


def _dedupe_sentences(text: str) -> str:
    """Drop repeated sentences: small models loop, and a repeat adds no information."""
    seen: set[str] = set()
    pieces: list[str] = []
    last = 0
    for start, end in sentence_spans(text):
        key = " ".join(_LIST_PREFIX.sub("", strip_citations(text[start:end])).lower().split())
        if key in seen:
            last = end
            continue
        seen.add(key)
        pieces.append(text[last:end])
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
