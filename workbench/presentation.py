"""How Workbench shows things, the same in the command line and the terminal UI.

One place decides the words and numbers: where a passage is (locators), what a sync did,
where an answer's time went, sizes, which answer sentences the check did not support, and
the lines around a hit. Everything here is plain strings and data; each front end adds its
own styling (Rich markup, Textual widgets). No front-end library is imported here, and core
modules only inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

# A bug's message and its saved traceback: the same words in every front end.
from workbench.crash import unexpected_message

if TYPE_CHECKING:
    from workbench.core.answering.records import AnswerRecord, Citation
    from workbench.core.evaluation.records import AnswerEval
    from workbench.core.index.search import SearchResult
    from workbench.core.index.sync import SyncReport

__all__ = [
    "CONTEXT_LINES",
    "STATUSES",
    "AnswerPiece",
    "NumberedLine",
    "answer_eval_rows",
    "answer_pieces",
    "change_lines",
    "cited_passage",
    "count_summary",
    "coverage_rows",
    "format_locator",
    "ingest_line",
    "line_window",
    "marked_sentences",
    "size_label",
    "sync_line",
    "timing_line",
    "unexpected_message",
]

# The coverage report's columns (`workbench doctor`), in this order.
STATUSES = ("indexed", "failed", "skipped")
CONTEXT_LINES = 4  # lines shown above and below a text hit in a preview
_CHANGE_MARKS = {
    "new": "+", "changed": "~", "deleted": "-", "renamed": ">", "failed": "!", "skipped": "!",
}  # fmt: skip


# -- where a passage is --------------------------------------------------------------------------
def format_locator(locator: Mapping[str, Any]) -> str:
    """A short human form: 'p. 3 · lines 10-24 · Guide > Setup', '1:05-1:32'."""
    parts = []
    if "page" in locator:
        parts.append(f"p. {locator['page']}")
    if "time" in locator:
        start, end = locator["time"]
        parts.append(f"{_clock(start)}-{_clock(end)}")
    if "lines" in locator:
        start, end = locator["lines"]
        parts.append(f"line {start}" if start == end else f"lines {start}-{end}")
    if "heading" in locator:
        parts.append(locator["heading"])
    if "region" in locator:
        left, top, right, bottom = locator["region"]
        parts.append(f"region {left},{top}-{right},{bottom} px")
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class NumberedLine(NamedTuple):
    number: int  # 1-based, as in the locator
    text: str
    inside: bool  # one of the hit's own lines


def line_window(
    lines: Sequence[str], start: int, end: int, context: int = CONTEXT_LINES
) -> list[NumberedLine]:
    """Lines ``start``..``end`` (1-based) of ``lines`` with ``context`` lines either side."""
    first = max(1, start - context)
    last = min(len(lines), end + context)
    return [
        NumberedLine(number, lines[number - 1], start <= number <= end)
        for number in range(first, last + 1)
    ]


def cited_passage(citation: Citation) -> SearchResult:
    """A citation as the search hit it came from, so it previews like one."""
    from workbench.core.index.search import SearchResult

    kind = "text" if "lines" in citation.locator else "document"
    return SearchResult(
        id="", path=citation.path, locator=dict(citation.locator), score=0.0,
        text=citation.text, kind=kind, ordinal=0,
    )  # fmt: skip


# -- what a sync did -----------------------------------------------------------------------------
def count_summary(files: Mapping[str, int], *, unchanged: bool = False) -> str:
    """'3 new, 1 changed': the file counts that are not zero (unchanged ones if asked)."""
    return ", ".join(
        f"{count} {name}"
        for name, count in files.items()
        if count and (unchanged or name != "unchanged")
    )


def sync_line(label: str, files: Mapping[str, int], seconds: float) -> str:
    """'Synced in 0.42s: 2 new, 1 deleted' for a watcher batch or a sync the person started."""
    return f"{label} in {seconds:.2f}s: {count_summary(files) or 'up to date'}"


def ingest_line(report: SyncReport) -> str:
    """`workbench ingest`'s summary: every file count, then what happened to the chunks."""
    data = report.as_json()
    chunks = data["chunks"]
    return (
        f"Synced in {data['seconds']:.2f}s: "
        f"{count_summary(data['files'], unchanged=True) or 'nothing to do'}. "
        f"Chunks: {chunks['embedded']} embedded, {chunks['reused']} reused, "
        f"{chunks['deleted']} deleted."
    )


def change_lines(changes: Sequence[Mapping[str, str]], limit: int) -> list[str]:
    """One line per changed file ('+ notes/a.md', '> b.md (from a.md)', '! c.pdf: reason'),
    the first ``limit`` of them, then how many more."""
    lines = []
    for change in changes[:limit]:
        mark = _CHANGE_MARKS.get(change["action"], "?")
        extra = f" (from {change['from']})" if "from" in change else ""
        extra += f": {change['reason']}" if "reason" in change else ""
        lines.append(f"{mark} {change['path']}{extra}")
    if len(changes) > limit:
        lines.append(f"… and {len(changes) - limit} more")
    return lines


# -- answers --------------------------------------------------------------------------------------
def timing_line(record: AnswerRecord) -> str:
    """Which model answered and how fast: 'smollm2 (llama-cpp) · retrieve 12 ms · first
    token 0.41 s · 57 tokens at 38 tok/s'."""
    timings = record.timings
    return (
        f"{record.model} ({record.backend}) · retrieve {timings.retrieve_ms:.0f} ms · "
        f"first token {timings.first_token_ms / 1000:.2f} s · "
        f"{record.usage.completion_tokens} tokens at {timings.tokens_per_second:.0f} tok/s"
    )


def decline_reason(record: AnswerRecord) -> str:
    """Why ``record`` was declined, with the figure that decided it."""
    params = record.params
    if record.declined_because == "not_stated" and record.answerability is not None:
        return (
            f"Declined: the model judged that the sources do not state the answer "
            f"(answerability {record.answerability:.2f}, below min_answerable "
            f"{params.get('min_answerable') or 0:.2f})."
        )
    return (
        f"Declined: the best match's relevance {record.best_relevance:.2f} is below "
        f"min_relevance {params.get('min_relevance', 0):.2f}, so the model was not asked."
    )


def receipt_lines(receipts: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per remote request that carried library text (where, when, how it went, how
    much, its hash), then the chunks it carried."""
    lines = []
    for receipt in receipts:
        status = receipt["status"] if receipt["status"] is not None else "no response"
        tries = receipt["attempts"]
        texts = receipt.get("sent", {}).get("texts")
        lines.append(
            f"{receipt['started']} → {receipt['backend']} ({receipt['host']}{receipt['path']}) · "
            f"HTTP {status} after {tries} attempt{'s' * (tries != 1)} · {receipt['bytes_sent']} "
            f"bytes, sha256 {receipt['sha256'][:16]}" + (f" · {texts} texts" if texts else "")
        )
        if receipt.get("error"):
            lines.append(f"    failed: {receipt['error']}")
        for chunk in receipt.get("sent", {}).get("chunks", []):
            lines.append(
                f"    [{chunk['n']}] {chunk['path']} · chunk {chunk['chunk']} · "
                f"{chunk['bytes']} bytes, sha256 {chunk['sha256'][:16]}"
            )
    return lines


def step_result_line(result: str) -> tuple[str, int]:
    """The line of an agent step's result worth showing (the first after its "Result of
    TOOL:" header; the whole text when it has none, as an error) and its number of lines."""
    lines = result.splitlines()
    shown = lines[1] if len(lines) > 1 and lines[0].startswith("Result of") else result
    return shown, len(lines)


class AnswerPiece(NamedTuple):
    text: str
    unsupported: bool  # a sentence the grounding check found no support for


def answer_pieces(record: AnswerRecord) -> list[AnswerPiece]:
    """The answer as written, cut so that the sentences the check did not support can be
    marked; one unmarked piece when it was declined or its sentences cannot be matched."""
    from workbench.core.answering.grounding import sentence_spans

    answer = record.answer
    spans = sentence_spans(answer)
    if record.declined or len(spans) != len(record.sentences):
        return [AnswerPiece(answer, False)]
    pieces = []
    last = 0
    for (start, end), sentence in zip(spans, record.sentences, strict=True):
        pieces.append(AnswerPiece(answer[last:start], False))
        pieces.append(AnswerPiece(answer[start:end], sentence.supported is False))
        last = end
    pieces.append(AnswerPiece(answer[last:], False))
    return [piece for piece in pieces if piece.text]


def marked_sentences(record: AnswerRecord) -> list[AnswerPiece]:
    """Each checked sentence with the [n] markers of the sources that support it (also where
    Workbench, not the model, chose them); none when the answer was not checked."""
    from workbench.core.answering.rag import with_markers

    return [
        AnswerPiece(with_markers(sentence.text, sentence.cited), sentence.supported is False)
        for sentence in record.sentences
    ]


# -- models and coverage --------------------------------------------------------------------------
def size_label(size: int) -> str:
    """A file size as people read it: '812 MiB', '4.1 GiB'."""
    if size >= 2**30:
        return f"{size / 2**30:.1f} GiB"
    if size >= 2**20:
        return f"{size / 2**20:.0f} MiB"
    return f"{size / 2**10:.0f} KiB"


def coverage_rows(by_kind: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """The doctor's table: a kind, then its file count per status ('-' for none)."""
    return [
        [kind, *(str(counts.get(status) or "-") for status in STATUSES)]
        for kind, counts in by_kind.items()
    ]


# -- evaluations ----------------------------------------------------------------------------------
def answer_eval_rows(result: AnswerEval) -> list[tuple[str, str]]:
    """`workbench eval answers` as (label, value) rows; '-' where nothing was measured."""
    sample = f"{result.questions}: {result.answerable} answerable, {result.unanswerable} not"
    if result.stopped:
        sample += " (stopped early)"
    return [
        ("Questions", sample),
        ("Model", result.model),
        ("Exact match", _share(result.em, percent=False)),
        ("F1", _share(result.f1, percent=False)),
        ("Contains gold (answerable)", _share(result.contains)),
        ("Declined (answerable)", _share(result.answerable_declined)),
        ("Declined (unanswerable)", _share(result.unanswerable_declined)),
        ("Groundedness (answerable)", _share(result.groundedness_answerable, percent=False)),
        ("Groundedness (unanswerable)", _share(result.groundedness_unanswerable, percent=False)),
        ("First token p50", _seconds(result.first_token_ms_p50)),
        ("Total p50", _seconds(result.total_ms_p50)),
    ]


def _share(value: float | None, *, percent: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:.0%}" if percent else f"{value:.3f}"


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f} s"


def as_of_label(as_of: Mapping[str, Any]) -> str:
    """'the library as of version 12 (tag v1, 2026-11-27 14:30:00)' from AsOf.as_json()."""
    tag = f"tag {as_of['tag']}, " if as_of.get("tag") else ""
    created = str(as_of.get("created", "")).replace("T", " ")[:19]
    return f"the library as of version {as_of['version']} ({tag}{created})"


def forgotten_label(forgotten: Mapping[str, Any]) -> str:
    """What an answer whose source was forgotten says instead of its text."""
    count = len(forgotten.get("sources", [])) or 1
    sources = "a source" if count == 1 else f"{count} sources"
    at = str(forgotten.get("at", "")).replace("T", " ")[:16]
    verb = "was" if count == 1 else "were"
    return f"{sources.capitalize()} of this answer {verb} forgotten on {at}; its text is redacted."
