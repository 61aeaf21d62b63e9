"""`workbench agent TASK`: a local model that uses tools over the library, step by step, then
answers with checked citations; `workbench agent show ID` and `workbench agent list`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, print_json
from workbench.presentation import format_locator, step_result_line

if TYPE_CHECKING:
    from workbench.core.agents.records import AgentRun, AgentStep
    from workbench.core.agents.runner import StepProgress

STOP_REASONS = {
    "answered": "answered",
    "step_limit": "used every step without an answer (try --max-steps, or a narrower task)",
    "time_limit": "ran out of time (--time-limit)",
    "repeated_call": "stopped: the model repeated a call after it was told it repeats",
    "cancelled": "stopped",
    "failed": "failed",
}


def register(app: typer.Typer) -> None:
    app.command()(agent)


def agent(
    ctx: typer.Context,
    task: Annotated[
        list[str],
        typer.Argument(help='The task, e.g. "which ... and who ...?"; or `show ID`, or `list`.'),
    ],  # fmt: skip
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name.")] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, max=50)] = 8,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=1, help="Seconds before the run stops.")
    ] = 300.0,
    tool: Annotated[
        list[str] | None, typer.Option("--tool", help="Only this tool (repeat for more).")
    ] = None,
    allow_write: Annotated[
        str | None,
        typer.Option(
            "--allow-write", metavar="DIR", help="Let the agent save notes in DIR (and only there)."
        ),
    ] = None,  # fmt: skip
    json_: JsonFlag = False,
) -> None:
    """Do a task with tools over your library (search, read, list files, file facts,
    arithmetic), then answer with checked citations. Every run is logged."""
    workbench = get_workbench(ctx)
    if len(task) == 2 and task[0] == "show":  # `agent show ID` (an id that is no run: an error)
        show(workbench.agents.get(task[1]), json_)
        return
    if task == ["list"]:
        runs = workbench.agents.recent()
        if json_:
            rows = [{"id": r.id, "task": r.task, "stop_reason": r.stop_reason, "model": r.model,
                     "steps": len(r.steps)} for r in runs]  # fmt: skip
            print_json({"runs": rows})
            return
        for run in runs:
            console.print(f"{run.id}  {run.stop_reason:<13} {len(run.steps)} steps  {run.task}")
        return

    def on_step(progress: StepProgress) -> None:
        if progress.step is not None and not json_:
            console.print(step_line(progress.step))

    run = workbench.agents.run(
        " ".join(task), model=model, max_steps=max_steps, time_limit_s=time_limit,
        tools=tool, write_dir=allow_write, on_step=on_step,
    )  # fmt: skip
    show(run, json_, steps=False)


def step_line(step: AgentStep) -> str:
    """'2 read {"path": ...} → 3 passages', or the error the model was told."""
    from rich.markup import escape

    call = f"{step.tool or '(no valid step)'} {json.dumps(step.arguments, ensure_ascii=False)}"
    shown, count = step_result_line(step.result)
    outcome = f"[red]{escape(step.result[:160])}[/]" if step.error else escape(
        shown[:120] + (f" (+{count - 2} more lines)" if count > 2 else ""))  # fmt: skip
    return f"[dim]{step.n:>2}[/] [bold]{escape(call[:140])}[/] → {outcome}"


def show(run: AgentRun, json_: bool, *, steps: bool = True) -> None:
    if json_:
        print_json(run.as_json())
        return
    from rich.text import Text

    if steps:
        console.print(Text.assemble(("Task: ", "bold"), run.task))
        for step in run.steps:
            console.print(step_line(step))
    if run.answer:
        console.print(Text(run.answer))
        console.print(f"[bold]Groundedness {run.groundedness:.2f}[/]")
        for sentence in run.unsupported:
            console.print(Text.assemble("  ", ("!", "bold yellow"), " ", sentence))
        for citation in run.citations:
            where = format_locator(citation.locator)
            console.print(Text.assemble("  ", (f"[{citation.n}]", "bold cyan"), " ",
                                        citation.path, " ", (where, "dim")))  # fmt: skip
    reason = STOP_REASONS.get(run.stop_reason, run.stop_reason)
    console.print(f"[dim]agent run {run.id} · {run.model} · {len(run.steps)} steps · {reason} · "
                  f"{run.total_ms / 1000:.1f} s[/]")  # fmt: skip
    if run.stop_reason != "answered":
        raise typer.Exit(1)
