"""`workbench stats`: answers, first-token times, groundedness, declines, failures and syncs,
from the answer log and the sync history (no telemetry stack needed)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, print_json


def register(app: typer.Typer) -> None:
    app.command()(stats)


def stats(
    ctx: typer.Context,
    days: Annotated[
        int, typer.Option("--days", min=1, help="Summarise the last this many days.")
    ] = 30,
    json_: JsonFlag = False,
) -> None:
    """Answers per day, first-token p50/p95, groundedness, declines, top failure reasons and
    syncs over the last --days days, from the answer log and the sync history."""
    summary = get_workbench(ctx).stats(days).as_json()
    if json_:
        print_json(summary)
        return
    answers = summary["answers"]
    console.print(f"[bold]Last {days} days[/] (since {summary['since']})")
    if not answers["total"]:
        console.print("No answers yet: ask something with `workbench ask QUESTION`.")
    else:
        _answers(answers)
    agents = summary["agents"]
    if agents["runs"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in agents["stop_reasons"].items())
        console.print(f"Agent runs: {agents['runs']} ({reasons})")
    syncs = summary["syncs"]
    files = ", ".join(f"{n} {action}" for action, n in syncs["files"].items()) or "no changes"
    console.print(f"Syncs that changed the library: {syncs['total']} ({files})")
    if summary["failures"]:
        table = Table("Where", "Top failure reasons", "Count", box=None, pad_edge=False)
        for failure in summary["failures"]:
            table.add_row(failure["where"], failure["reason"], str(failure["count"]))
        console.print(table)


def _answers(answers: dict[str, Any]) -> None:
    first = answers["first_token_ms"]
    console.print(
        f"Answers: {answers['total']} ({answers['answered']} answered, "
        f"{answers['declined']} declined"
        + (f", {answers['failovers']} failed over" if answers["failovers"] else "") + ")"
    )  # fmt: skip
    if first["n"]:
        console.print(
            f"First token: p50 {first['p50'] / 1000:.2f} s, p95 {first['p95'] / 1000:.2f} s "
            f"over {first['n']} answers"
        )
    grounded = answers["groundedness"]
    if grounded["mean"] is not None:
        bins = "  ".join(f"{b['from']:.2f}-{b['to']:.2f}: {b['answers']}" for b in grounded["bins"])
        console.print(f"Groundedness: mean {grounded['mean']:.2f}   {bins}")
    if answers["declined_because"]:
        reasons = ", ".join(f"{n} {why}" for why, n in answers["declined_because"].items())
        console.print(f"Declined because: {reasons}")
    per_day = answers["per_day"][-7:]
    table = Table("Day", "Answers", "Declined", box=None, pad_edge=False)
    for day in per_day:
        table.add_row(day["date"], str(day["answers"]), str(day["declined"]))
    console.print(table)
