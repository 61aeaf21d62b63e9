"""`workbench eval`: retrieval quality on BEIR-layout data, answer quality on SQuAD 2.0."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, err_console, print_json
from workbench.presentation import answer_eval_rows

if TYPE_CHECKING:
    from types import FrameType

    from workbench.core.evaluation.records import AnswerEval, AnswersProgress

eval_app = typer.Typer(
    help="Measure retrieval and answer quality on public benchmarks.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def retrieval(
    ctx: typer.Context,
    dataset_dir: Annotated[
        str, typer.Argument(help="BEIR layout: corpus.jsonl, queries.jsonl, qrels/.")
    ],
    split: Annotated[str, typer.Option(help="qrels split to score.")] = "test",
    mode: Annotated[str, typer.Option(help="Mode reported at the top level.")] = "hybrid",
    limit: Annotated[int | None, typer.Option(help="Score only the first N queries.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Index a BEIR dataset into its own store and report nDCG@10, Recall@100 and MRR@10."""
    workbench = get_workbench(ctx)

    def on_progress(message: str) -> None:
        if not json_:
            err_console.print(f"[dim]{message}[/]")

    result = workbench.evaluator.retrieval(
        dataset_dir, split=split, mode=mode, limit=limit, on_progress=on_progress
    )
    if json_:
        print_json(result)
        return
    from rich.table import Table

    table = Table("mode", "nDCG@10", "Recall@100", "MRR@10", "ms/query")
    for name, scores in result["by_mode"].items():
        table.add_row(
            name,
            f"{scores['ndcg@10']:.4f}",
            f"{scores['recall@100']:.4f}",
            f"{scores['mrr@10']:.4f}",
            f"{scores['ms_per_query']:.1f}",
        )
    console.print(f"{result['dataset']}: {result['queries']} queries ({split})")
    console.print(table)


@eval_app.command("answers")
def answers(
    ctx: typer.Context,
    dataset: Annotated[
        str, typer.Argument(help="A SQuAD 2.0 JSON file, or the folder that holds one.")
    ],
    limit: Annotated[
        int,
        typer.Option(
            min=0,
            help="Questions to ask: a seeded sample that keeps the share of "
            "unanswerable ones (0: every question).",
        ),
    ] = 400,
    seed: Annotated[int, typer.Option(help="Sample seed: same seed, same questions.")] = 2018,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (see `workbench models`).")
    ] = None,
    details: Annotated[
        Path | None,
        typer.Option(
            help="Also write every question's answer, gold answers, scores and timings to "
            "this file (JSON lines).",
            dir_okay=False,
        ),
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Ask a SQuAD 2.0 sample from a library of its articles; report EM, F1 and declining.

    The articles are indexed into an index of their own under the cache dir (a second run
    reuses it); the answers are logged there, not in your answer log. Ctrl-C stops and
    reports the questions answered so far.
    """
    workbench = get_workbench(ctx)
    with _stop_on_interrupt(quiet=json_) as should_stop, _progress_view(quiet=json_) as shown:
        result = workbench.evaluator.answers(
            dataset, limit=limit or None, seed=seed, model=model, on_progress=shown,
            should_stop=should_stop,
        )  # fmt: skip
    if details is not None:
        lines = [json.dumps(r.as_json(), ensure_ascii=False) + "\n" for r in result.results]
        details.write_text("".join(lines), encoding="utf-8")
    if json_:
        print_json(result.as_json())
    else:
        _print_answer_eval(result, details)
    if result.stopped:
        raise typer.Exit(130)


def _print_answer_eval(result: AnswerEval, details: Path | None) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    for label, value in answer_eval_rows(result):
        table.add_row(label, value)
    console.print(f"[bold]{result.dataset}[/]: answer quality (EM and F1 as SQuAD 2.0 scores them)")
    console.print(table)
    note = f"seed {result.seed} · {result.seconds:.0f} s · index {result.index.get('path', '')}"
    if details is not None:
        note += f" · details in {details}"
    console.print(f"[dim]{note}[/]")


@contextlib.contextmanager
def _stop_on_interrupt(quiet: bool) -> Iterator[Callable[[], bool]]:
    """A ``should_stop`` that the first Ctrl-C turns true; a second Ctrl-C quits at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals need the main one
        yield stop.is_set
        return

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()  # no printing here: the signal may land mid-write to stderr (reentrant)

    announced = threading.Event()

    def should_stop() -> bool:
        if stop.is_set() and not announced.is_set():
            announced.set()
            if not quiet:
                err_console.print(
                    "Stopping: the figures will cover the questions answered so far "
                    "(Ctrl-C again to quit now)."
                )
        return stop.is_set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield should_stop
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _progress_view(quiet: bool) -> Iterator[Callable[[AnswersProgress], None]]:
    """Shows an answer evaluation's progress: a bar on a terminal, else its steps as lines."""
    if quiet:
        yield lambda progress: None
        return
    if not err_console.is_terminal:

        def print_steps(progress: AnswersProgress) -> None:
            if progress.phase == "prepare":
                err_console.print(f"[dim]{progress.message}[/]")

        yield print_steps
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}", style="dim"),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("Preparing", total=None, note="")
        running: dict[str, Any] = {"f1": 0.0, "declined": 0}

        def show(progress: AnswersProgress) -> None:
            if progress.phase == "prepare":
                bar.console.print(f"[dim]{progress.message}[/]")
            elif progress.phase == "index":
                bar.update(task, description="Indexing", completed=progress.done,
                           total=progress.total or None)  # fmt: skip
            else:
                if progress.last is not None:
                    running["f1"] += progress.last.f1
                    running["declined"] += progress.last.declined
                note = (
                    f"F1 {running['f1'] / progress.done:.2f} · {running['declined']} declined"
                    if progress.done
                    else ""
                )
                bar.update(task, description="Asking", completed=progress.done,
                           total=progress.total, note=note)  # fmt: skip

        yield show
