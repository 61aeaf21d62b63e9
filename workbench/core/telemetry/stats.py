"""`workbench stats`: the telemetry figures for people without a telemetry stack, summarised
from what the library already keeps: the answer log, the agent runs, the sync history (the
``versions`` table) and the files that could not be indexed."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from workbench.core.index.schema import table_names
from workbench.core.index.store import Store

GROUNDEDNESS_BINS = [0.0, 0.25, 0.5, 0.75, 1.0]
BIN_LOWS, BIN_HIGHS = GROUNDEDNESS_BINS[:-1], GROUNDEDNESS_BINS[1:]
TOP_FAILURES = 10
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass
class Stats:
    """The ``stats --json`` contract."""

    days: int
    since: str
    answers: dict[str, Any] = field(default_factory=dict)
    agents: dict[str, Any] = field(default_factory=dict)
    syncs: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"days": self.days, "since": self.since, "answers": self.answers,
                "agents": self.agents, "syncs": self.syncs, "failures": self.failures}  # fmt: skip


def summarise(store: Store, *, days: int = 30, now: float | None = None) -> Stats:
    """Figures over the last ``days`` days (``now`` defaults to the present)."""
    now = time.time() if now is None else now
    since = now - days * 86400
    stats = Stats(days, datetime.fromtimestamp(since).astimezone().isoformat(timespec="seconds"))
    names = set(table_names(store.db))
    answers = _rows(store, "answers", since) if "answers" in names else []
    runs = _rows(store, "agent_runs", since) if "agent_runs" in names else []
    syncs = _rows(store, "versions", since) if "versions" in names else []
    records = [json.loads(row["record"]) for row in answers]  # parsed once, used twice
    stats.answers = _answers(answers, records)
    stats.agents = _agents(runs)
    stats.syncs = _syncs(syncs)
    stats.failures = _failures(store, records, runs)
    return stats


def _rows(store: Store, table: str, since: float) -> list[dict[str, Any]]:
    found = store.db.open_table(table).search().where(f"created >= {since!r}").limit(None)
    rows: list[dict[str, Any]] = found.to_arrow().to_pylist()
    return rows


def _day(created: float) -> str:
    return datetime.fromtimestamp(created).astimezone().date().isoformat()


def percentiles(values: list[float]) -> dict[str, Any]:
    """n, p50 and p95 (None when there are no values)."""
    if not values:
        return {"n": 0, "p50": None, "p95": None}
    p50, p95 = np.percentile(np.asarray(values, dtype=np.float64), [50, 95])
    return {"n": len(values), "p50": round(float(p50), 1), "p95": round(float(p95), 1)}


def _answers(rows: list[dict[str, Any]], records: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [r for r in records if not r.get("declined")]
    per_day: dict[str, Counter[str]] = {}
    for row in rows:
        counts = per_day.setdefault(_day(row["created"]), Counter())
        counts["answers"] += 1
        counts["declined"] += bool(row["declined"])
    first_tokens = [
        float(r["timings"]["first_token_ms"])
        for r in answered
        if r.get("timings", {}).get("first_token_ms")
    ]
    grounded = [float(r.get("groundedness") or 0.0) for r in answered]
    bins = np.histogram(grounded, bins=GROUNDEDNESS_BINS)[0] if grounded else [0] * 4
    return {
        "total": len(records),
        "answered": len(answered),
        "declined": len(records) - len(answered),
        "per_day": [
            {"date": day, "answers": c["answers"], "declined": c["declined"]}
            for day, c in sorted(per_day.items())
        ],  # fmt: skip
        "first_token_ms": percentiles(first_tokens),
        "groundedness": {
            "mean": round(float(np.mean(grounded)), 4) if grounded else None,
            "bins": [
                {"from": low, "to": high, "answers": int(count)}
                for low, high, count in zip(BIN_LOWS, BIN_HIGHS, bins, strict=True)
            ],
        },  # fmt: skip
        "declined_because": dict(
            Counter(
                r.get("declined_because") or "unknown" for r in records if r.get("declined")
            ).most_common()
        ),  # fmt: skip
        "models": dict(Counter(r.get("model", "") for r in records).most_common()),
        "failovers": sum(len(r.get("params", {}).get("failover") or []) for r in records),
    }


def _agents(rows: list[dict[str, Any]]) -> dict[str, Any]:
    steps = Counter[str]()
    for row in rows:
        for step in json.loads(row["record"]).get("steps", []):
            steps[step.get("tool") or "(invalid)"] += 1
    return {
        "runs": len(rows),
        "stop_reasons": dict(Counter(row["stop_reason"] for row in rows).most_common()),
        "steps_by_tool": dict(steps.most_common()),
    }


def _syncs(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Syncs that changed the library (the version log has a row for each)."""
    per_day: dict[str, Counter[str]] = {}
    totals = Counter[str]()
    for row in rows:
        counts = per_day.setdefault(_day(row["created"]), Counter())
        counts["syncs"] += 1
        for action in json.loads(row["changes"] or "[]"):
            counts[action.get("action", "")] += 1
            totals[action.get("action", "")] += 1
    return {
        "total": len(rows),
        "files": dict(totals.most_common()),
        "per_day": [{"date": day, **dict(c)} for day, c in sorted(per_day.items())],
    }


def reason_key(reason: str) -> str:
    """A reason with its numbers blanked, so "too large (30.1 MiB...)" groups as one."""
    return _NUMBER.sub("N", reason.strip())[:200]


def _failures(
    store: Store, records: list[dict[str, Any]], runs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The most frequent reasons things did not work: files that failed to index (now),
    declined answers, answers that failed over, agent runs that ended without an answer."""
    counted = Counter[tuple[str, str]]()
    failed = store.files.search().where("status = 'failed'").select(["reason"]).limit(None)
    for row in failed.to_arrow().to_pylist():
        counted["files", reason_key(row["reason"] or "")] += 1
    for record in records:
        if record.get("declined"):
            counted["answers", f"declined: {record.get('declined_because') or 'unknown'}"] += 1
        for failover in record.get("params", {}).get("failover") or []:
            counted["remote", reason_key(str(failover.get("error", "")))] += 1
    for row in runs:
        if row["stop_reason"] != "answered":
            counted["agents", f"stopped: {row['stop_reason']}"] += 1
    return [{"where": where, "reason": reason, "count": count}
            for (where, reason), count in counted.most_common(TOP_FAILURES)]  # fmt: skip
