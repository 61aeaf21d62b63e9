"""The answer log: every answer, with what it was made from, in the library's LanceDB.

One row per answer in the ``answers`` table. A few columns are kept apart for listing; the
full record (the `workbench ask --json` contract plus the prompt, parameters, model file hash
and index version) is stored as JSON, so any answer can be reproduced and audited later.
Appends are not serialised by the library's write lock: asking works while `watch` or
`ingest` writes the index.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from workbench.core.answering.records import (
    AnswerRecord,
    AnswerSummary,
    CheckedSentence,
    Citation,
    SourceRef,
    Timings,
    Usage,
)
from workbench.core.index.store import Store, sql_str
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.answering.models import ModelInfo
    from workbench.core.answering.rag import Answer

ANSWERS = "answers"
ANSWERS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("created", pa.float64()),
        pa.field("question", pa.string()),
        pa.field("model", pa.string()),
        pa.field("groundedness", pa.float64()),
        pa.field("declined", pa.bool_()),
        pa.field("record", pa.string()),
    ]
)
LIST_COLUMNS = ["id", "created", "question", "model", "groundedness", "declined"]


def new_answer_id() -> str:
    """Short, unique and roughly time-ordered: 8 hex digits of seconds, 4 random."""
    return f"{int(time.time()):08x}{secrets.token_hex(2)}"


class AnswerLog:
    """Reads and appends answer records in ``store``'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._table: Any = None

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = self.store.db.create_table(ANSWERS, schema=ANSWERS_SCHEMA, exist_ok=True)
        return self._table

    def add(self, record: AnswerRecord) -> None:
        row = {
            "id": record.id,
            "created": record.created.timestamp(),
            "question": record.question,
            "model": record.model,
            "groundedness": record.groundedness,
            "declined": record.declined,
            "record": json.dumps(record.as_json(), ensure_ascii=False),
        }
        self.table.add(pa.Table.from_pylist([row], ANSWERS_SCHEMA))

    def recent(self, limit: int | None = 20) -> list[AnswerSummary]:
        """Newest first."""
        rows = self.table.search().select(LIST_COLUMNS).limit(None).to_arrow().to_pylist()
        rows.sort(key=lambda row: row["created"], reverse=True)
        return [
            AnswerSummary(
                row["id"],
                row["question"],
                datetime.fromtimestamp(row["created"]).astimezone(),
                row["model"],
                row["groundedness"],
                row["declined"],
            )
            for row in (rows[:limit] if limit else rows)
        ]

    def get(self, answer_id: str) -> AnswerRecord:
        """The full record of the answer whose id is (or starts with) ``answer_id``."""
        found = record_by_id(self.table, answer_id, "answer", "workbench answers list")
        return AnswerRecord.from_json(found)


def rows_naming(table: Any, text: str, columns: list[str]) -> list[dict[str, Any]]:
    """``columns`` of the rows of a log table (answers, agent runs) whose JSON ``record``
    holds ``text`` as written in JSON (a path, say): a pre-filter, callers check the record."""
    needle = json.dumps(text, ensure_ascii=False)[1:-1]
    query = table.search().where(f"record LIKE {sql_str('%' + needle + '%')}")
    rows: list[dict[str, Any]] = query.select(columns).limit(None).to_arrow().to_pylist()
    return rows


def record_by_id(table: Any, wanted_id: str, noun: str, listing: str) -> dict[str, Any]:
    """The JSON ``record`` of the row of ``table`` whose id is (or starts with) ``wanted_id``;
    a clear error when none or several match."""
    wanted = wanted_id.strip().lower()
    if not wanted.isalnum():
        raise WorkbenchError(
            f"'{wanted_id}' is not an {noun} id. See `{listing}`.", f"No such {noun}"
        )
    rows = (
        table.search()
        .where(f"id LIKE {sql_str(wanted + '%')}")
        .select(["id", "record"])
        .limit(None)
        .to_arrow()
        .to_pylist()
    )
    if len(rows) > 1:
        ids = ", ".join(sorted(row["id"] for row in rows)[:5])
        raise WorkbenchError(
            f"'{wanted_id}' matches several {noun}s ({ids}). Give more of the id.",
            f"Ambiguous {noun} id",
        )
    if not rows:
        raise WorkbenchError(
            f"No {noun} with id '{wanted_id}'. See `{listing}`.", f"No such {noun}"
        )
    record: dict[str, Any] = json.loads(rows[0]["record"])
    return record


def build_record(
    answer: Answer,
    *,
    answer_id: str,
    model: ModelInfo,
    model_sha256: str | None,
    backend: str,
    index_version: int,
    params: dict[str, Any],
    total_ms: float,
    setup_ms: float = 0.0,
) -> AnswerRecord:
    """The record of ``answer``: the `ask --json` contract plus what reproduces it."""
    completion = answer.completion
    report = answer.report
    timings = Timings(
        setup_ms=setup_ms,
        retrieve_ms=answer.retrieve_ms,
        load_ms=answer.load_ms,
        answerable_ms=answer.answerable_ms,
        prompt_ms=completion.prompt_ms if completion else 0.0,
        first_token_ms=answer.first_token_ms,
        generate_ms=completion.generate_ms if completion else 0.0,
        tokens_per_second=completion.tokens_per_second if completion else 0.0,
        check_ms=answer.check_ms,
        total_ms=total_ms,
    )
    now = datetime.now().astimezone()
    return AnswerRecord(
        id=answer_id,
        created=now.replace(microsecond=now.microsecond // 1000 * 1000),  # as the log keeps it
        question=answer.question,
        answer=answer.text,
        citations=[Citation(**c) for c in answer.citations],
        groundedness=round(report.groundedness, 4) if report else 0.0,
        unsupported=report.unsupported if report else [],
        declined=answer.declined,
        cited_by=answer.cited_by,
        model=model.name,
        model_sha256=model_sha256,
        model_path=model.path,
        backend=backend,
        index_version=index_version,
        params=params,
        usage=Usage(
            completion.prompt_tokens if completion else answer.answerable_tokens,
            completion.completion_tokens if completion else 0,
        ),
        timings=Timings(**timings.as_json()),
        finish_reason=completion.finish_reason if completion else "declined",
        best_relevance=round(answer.best_relevance, 4),
        answerability=answer.answerability,
        declined_because=answer.declined_because,
        sentences=[CheckedSentence(**s.as_json()) for s in report.sentences] if report else [],
        sources=[SourceRef(s.n, s.path, s.locator, round(s.relevance, 4)) for s in answer.sources],
        messages=answer.messages,
    )
