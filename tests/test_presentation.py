"""The words and numbers the CLI and the terminal UI both show, from real records."""

from __future__ import annotations

from datetime import datetime

from workbench.core.answering.records import (
    AnswerRecord,
    CheckedSentence,
    Citation,
    Timings,
    Usage,
)
from workbench.core.index.sync import SyncReport
from workbench.presentation import (
    answer_pieces,
    change_lines,
    cited_passage,
    coverage_rows,
    format_locator,
    ingest_line,
    line_window,
    marked_sentences,
    size_label,
    sync_line,
    timing_line,
)


def answer(text: str, sentences: list[CheckedSentence], declined: bool = False) -> AnswerRecord:
    return AnswerRecord(
        id="abc123", created=datetime.now().astimezone(), question="q?", answer=text,
        declined=declined, model="tiny", backend="llama-cpp", index_version=3,
        sentences=sentences, usage=Usage(prompt_tokens=90, completion_tokens=42),
        timings=Timings(retrieve_ms=12.4, first_token_ms=410.0, tokens_per_second=37.6),
    )  # fmt: skip


def test_locators() -> None:
    assert format_locator({"page": 3, "lines": [10, 24], "heading": "Guide > Setup"}) == (
        "p. 3 · lines 10-24 · Guide > Setup"
    )
    assert format_locator({"lines": [7, 7]}) == "line 7"
    assert format_locator({"time": [65.0, 92.0]}) == "1:05-1:32"
    assert format_locator({"region": [1, 2, 30, 40]}) == "region 1,2-30,40 px"
    assert format_locator({}) == ""


def test_line_window_keeps_inside_the_file() -> None:
    lines = [f"line {n}" for n in range(1, 11)]
    window = line_window(lines, 2, 3, context=4)
    assert [line.number for line in window] == [1, 2, 3, 4, 5, 6, 7]
    assert [line.number for line in window if line.inside] == [2, 3]
    assert window[0].text == "line 1"
    assert line_window(lines, 9, 12)[-1].number == 10  # the file got shorter since indexing
    assert line_window(lines, 30, 31) == []


def test_sync_summaries() -> None:
    report = SyncReport(new=2, unchanged=5, deleted=1, embedded=7, reused=3, seconds=0.4213)
    assert ingest_line(report) == (
        "Synced in 0.42s: 2 new, 5 unchanged, 1 deleted. Chunks: 7 embedded, 3 reused, 0 deleted."
    )
    assert ingest_line(SyncReport()).startswith("Synced in 0.00s: nothing to do.")
    files = report.as_json()["files"]
    assert sync_line("Synced", files, 0.4213) == "Synced in 0.42s: 2 new, 1 deleted"
    assert sync_line("Caught up", {"unchanged": 5}, 0.1) == "Caught up in 0.10s: up to date"
    changes = [
        {"path": "/n/a.md", "action": "new"},
        {"path": "/n/b.md", "action": "renamed", "from": "/n/old.md"},
        {"path": "/n/c.pdf", "action": "failed", "reason": "truncated PDF"},
    ]
    assert change_lines(changes, 2) == ["+ /n/a.md", "> /n/b.md (from /n/old.md)", "… and 1 more"]
    assert change_lines(changes, 5)[-1] == "! /n/c.pdf: truncated PDF"


def test_answer_timing_and_checked_sentences() -> None:
    checked = [
        CheckedSentence("Roses need pruning [1].", [1], 0.8, 1, True),
        CheckedSentence("Tulips sing.", [], 0.1, None, False),
    ]
    record = answer("Roses need pruning [1]. Tulips sing.", checked)
    assert timing_line(record) == (
        "tiny (llama-cpp) · retrieve 12 ms · first token 0.41 s · 42 tokens at 38 tok/s"
    )
    pieces = answer_pieces(record)
    assert "".join(piece.text for piece in pieces) == record.answer
    assert [p.text for p in pieces if p.unsupported] == ["Tulips sing."]
    assert [(p.text, p.unsupported) for p in marked_sentences(record)] == [
        ("Roses need pruning [1].", False),
        ("Tulips sing.", True),
    ]
    declined = answer("I could not find that.", [], declined=True)
    assert [p.text for p in answer_pieces(declined)] == ["I could not find that."]
    assert marked_sentences(declined) == []


def test_sizes_coverage_and_cited_passages() -> None:
    assert size_label(94 * 2**20) == "94 MiB"
    assert size_label(int(4.1 * 2**30)) == "4.1 GiB"
    assert size_label(300 * 2**10) == "300 KiB"
    by_kind = {"pdf": {"indexed": 2, "failed": 1, "skipped": 0}}
    assert coverage_rows(by_kind) == [["pdf", "2", "1", "-"]]
    hit = cited_passage(Citation(2, "/n/a.md", {"lines": [3, 4]}, "text of the passage"))
    assert (hit.path, hit.kind, hit.text) == ("/n/a.md", "text", "text of the passage")
    assert cited_passage(Citation(1, "/n/b.pdf", {"page": 2}, "")).kind == "document"
