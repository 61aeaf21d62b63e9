"""`workbench eval retrieval DATASET_DIR`: retrieval quality on BEIR-layout data."""

from __future__ import annotations

from typing import Annotated

import typer

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, err_console, print_json

eval_app = typer.Typer(help="Measure retrieval quality on public benchmarks.", no_args_is_help=True)


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

    result = workbench.eval_retrieval(
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
