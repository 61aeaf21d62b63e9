"""`workbench models` (list, use, add) and `workbench answers` (list, show)."""

from __future__ import annotations

from typing import Annotated

import typer

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, print_json
from workbench.presentation import receipt_lines, size_label

models_app = typer.Typer(help="Chat models: list, choose the default, add GGUF files.")
answers_app = typer.Typer(help="The answer log: every answer with its sources and timings.")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.add_typer(answers_app, name="answers")


@models_app.callback(invoke_without_command=True)
def models_default(ctx: typer.Context) -> None:
    """Chat models: list, choose the default, add GGUF files."""
    if ctx.invoked_subcommand is None:
        list_models(ctx)


@models_app.command("list")
def list_models(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Models in the models folder, added ones, and those found in LM Studio, Ollama and
    Hugging Face caches, described from their GGUF headers (nothing is loaded)."""
    workbench = get_workbench(ctx)
    models = workbench.models()
    if json_:
        print_json({"models": [model.as_json() for model in models]})
        return
    from rich.table import Table

    table = Table("", "name", "arch", "params", "quant", "context", "size", "source")
    table.columns[1].no_wrap = True
    for model in models:
        if model.error:
            table.add_row("", model.name, f"[red]{model.error}[/]", "", "", "", "", model.source)
            continue
        table.add_row(
            "*" if model.default else "",
            model.name,
            model.arch,
            model.params_label,
            model.quant,
            str(model.context or "?"),
            size_label(model.size),
            model.source,
        )
    console.print(table)
    console.print(
        f"[dim]* default. Put GGUF files in {workbench.paths.models_dir} or use "
        "`workbench models add PATH`; choose with `workbench models use NAME`.[/]"
    )


@models_app.command("use")
def use_model(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name from `workbench models list`.")],
    json_: JsonFlag = False,
) -> None:
    """Make a model the default for `workbench ask` (remembered across runs)."""
    workbench = get_workbench(ctx)
    model = workbench.use_model(name)
    if json_:
        print_json({"default": model.name, "path": model.path})
        return
    console.print(f"Default chat model: [bold]{model.name}[/] ({model.path})")
    if workbench.settings.chat_model and workbench.settings.chat_model != model.name:
        console.print(
            f"[yellow]Note:[/] the chat_model setting ({workbench.settings.chat_model}) in "
            "config.toml or WORKBENCH_CHAT_MODEL overrides this choice until you remove it."
        )


@models_app.command("add")
def add_model(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A .gguf model file; it stays where it is.")],
    json_: JsonFlag = False,
) -> None:
    """Register a GGUF model file (not copied; keep it where it is)."""
    model = get_workbench(ctx).add_model(path)
    if json_:
        print_json(model.as_json())
        return
    console.print(
        f"Added [bold]{model.name}[/]: {model.arch}, {model.params_label} parameters, "
        f"{model.quant}, context {model.context}. Use it with `workbench models use {model.name}`"
        f" or `workbench ask --model {model.name} ...`."
    )


@answers_app.callback(invoke_without_command=True)
def answers_default(ctx: typer.Context) -> None:
    """The answer log: every answer with its sources and timings."""
    if ctx.invoked_subcommand is None:
        list_answers(ctx)


@answers_app.command("list")
def list_answers(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many, newest first.")] = (
        20
    ),
    json_: JsonFlag = False,
) -> None:
    """The latest answers: id, when, model, groundedness and question."""
    rows = get_workbench(ctx).answers(limit)
    if json_:
        print_json({"answers": [row.as_json() for row in rows]})
        return
    if not rows:
        console.print('No answers yet. Ask one with `workbench ask "..."`.')
        return
    from rich.table import Table

    table = Table("id", "created", "model", "grounded", "question")
    for column in table.columns[:4]:
        column.no_wrap = True
    for row in rows:
        grounded = "declined" if row.declined else f"{row.groundedness:.2f}"
        when = row.created.astimezone().strftime("%Y-%m-%d %H:%M")
        table.add_row(row.id, when, row.model, grounded, row.question)
    console.print(table)


@answers_app.command("replay")
def replay_answer(
    ctx: typer.Context,
    answer_id: Annotated[str, typer.Argument(metavar="ID", help="Answer id (or its start).")],
    json_: JsonFlag = False,
) -> None:
    """Re-run a logged answer against its index version, model file (by sha256) and
    parameters: identical, differs (with a diff), or cannot replay (and what is gone)."""
    result = get_workbench(ctx).replay(answer_id)
    if json_:
        print_json(result.as_json())
    elif result.outcome == "identical":
        console.print(
            f"[green]Identical[/]: answer {result.answer_id} replayed on index version "
            f"{result.index_version} with {result.model} gives the same text and sources."
        )
    elif result.outcome == "differs":
        from rich.text import Text

        console.print(
            f"[yellow]Differs[/]: answer {result.answer_id} replayed on index version "
            f"{result.index_version} with {result.model}."
        )
        for line in result.text_diff:
            console.print(Text(line, style="red" if line.startswith("-") else
                               "green" if line.startswith("+") else ""))  # fmt: skip
        for source in result.sources_removed:
            console.print(Text(f"- source {source}", style="red"))
        for source in result.sources_added:
            console.print(Text(f"+ source {source}", style="green"))
    else:
        console.print(f"[red]Cannot replay[/] answer {result.answer_id}: {result.reason}")
    if result.outcome != "identical":
        raise typer.Exit(1)


@answers_app.command("show")
def show_answer(
    ctx: typer.Context,
    answer_id: Annotated[str, typer.Argument(metavar="ID", help="Answer id (or its start).")],
    json_: JsonFlag = False,
) -> None:
    """One logged answer in full: question, answer, checks, sources, model, timings, and
    what was sent to remote backends (receipts)."""
    record = get_workbench(ctx).answer(answer_id)
    if json_:
        print_json(record.as_json())
        return
    from rich.text import Text

    from workbench.cli.ask import print_answer

    console.print(Text.assemble(("Q: ", "bold"), record.question))
    created = record.created.isoformat(timespec="milliseconds")
    console.print(f"[dim]{created} · index version {record.index_version}[/]")
    print_answer(record)
    timings = record.timings.as_json()
    console.print(
        "[dim]"
        + " · ".join(f"{name} {value:g}" for name, value in timings.items())
        + f" · model sha256 {record.model_sha256 or '-'}[/]"
    )
    for failover in record.params.get("failover", []):
        console.print(
            Text(f"Failed over from {failover['model']} to {failover['to']}: {failover['error']}",
                 style="yellow")
        )  # fmt: skip
    if not record.receipts:
        console.print("[dim]Nothing was sent off this machine for this answer.[/]")
        return
    console.print("[bold]Remote requests that carried library text:[/]")
    for line in receipt_lines(record.receipts):
        console.print(Text(line))
