"""`workbench ask`: a grounded answer from the library, streamed, with checked citations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.history import AsOfOption
from workbench.cli.output import console, print_json
from workbench.presentation import (
    answer_pieces,
    as_of_label,
    decline_reason,
    forgotten_label,
    format_locator,
    timing_line,
)

if TYPE_CHECKING:
    from rich.text import Text

    from workbench.core.answering.rag import AskProgress
    from workbench.core.answering.records import AnswerRecord
    from workbench.workbench import Workbench


def register(app: typer.Typer) -> None:
    app.command()(ask)


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="What to ask your library.")],
    k: Annotated[
        int | None, typer.Option("--k", "-k", min=1, max=50, help="Chunks to retrieve.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (see `workbench models`).")
    ] = None,
    as_of: AsOfOption = None,
    json_: JsonFlag = False,
) -> None:
    """Answer a question from your library with a local model, citing checked sources."""
    workbench = get_workbench(ctx)
    if json_ or not console.is_terminal:
        record = workbench.ask(question, k=k, model=model, as_of=as_of)
    else:
        record = _ask_streaming(workbench, question, k, model, as_of)
    if json_:
        print_json(record.as_json())
        return
    print_answer(record)


def _ask_streaming(
    workbench: Workbench, question: str, k: int | None, model: str | None, as_of: str | None
) -> AnswerRecord:
    """Stream tokens into a live region, then replace it with the checked answer."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    streamed = Text()
    status = {
        "retrieve": "Searching…", "load": "Loading model…", "judge": "Reading the sources…",
        "generate": "", "check": "", "failover": "The backend failed; answering locally…",
    }  # fmt: skip
    # The shared console keeps long lines whole (soft wrap); a live region must wrap them.
    with Live(
        Text("Searching…", style="dim"),
        console=Console(highlight=False),
        refresh_per_second=12,
        transient=True,
        vertical_overflow="visible",
    ) as live:

        def on_progress(progress: AskProgress) -> None:
            if progress.phase == "failover":  # the answer starts again on another backend
                streamed.truncate(0)
            if status.get(progress.phase):
                live.update(Text(status[progress.phase], style="dim"))

        def on_token(piece: str) -> None:
            streamed.append(piece)
            live.update(streamed, refresh=False)

        return workbench.ask(
            question, k=k, model=model, on_token=on_token, on_progress=on_progress, as_of=as_of
        )


def print_answer(record: AnswerRecord) -> None:
    """The checked answer, what is not supported, the sources, and where the time went."""
    from rich.text import Text

    if record.as_of:
        console.print(Text(f"From {as_of_label(record.as_of)}.", style="yellow"))
    if record.forgotten:
        console.print(Text(forgotten_label(record.forgotten), style="yellow"))
        sources = ", ".join(f"[{s.n}] {s.path}" for s in record.sources)
        console.print(Text(f"Sources: {sources or 'none'}", style="dim"))
        console.print(f"[dim]answer {record.id}[/]")
        return
    console.print(_answer_text(record))
    if record.declined:
        console.print(Text(decline_reason(record), style="dim"))
        for citation in record.citations:  # the closest sources, when there were some
            where = format_locator(citation.locator)
            number = (f"[{citation.n}]", "bold cyan")
            console.print(Text.assemble("  ", number, " ", citation.path, " ", (where, "dim")))
        console.print(f"[dim]answer {record.id}[/]")
        return
    scored = [s for s in record.sentences if s.supported is not None]
    supported = sum(bool(s.supported) for s in scored)
    note = " · citations matched by Workbench (the model cited none)" * (
        record.cited_by == "workbench" and bool(record.citations)
    )
    console.print(
        f"\n[bold]Groundedness {record.groundedness:.2f}[/]: {supported} of {len(scored)} "
        f"sentences supported by the sources{note}"
    )
    if record.unsupported:
        console.print("[yellow]Not supported by the sources:[/]")
        for sentence in record.unsupported:
            console.print(Text.assemble("  ", ("!", "bold yellow"), " ", sentence))
    if record.citations:
        console.print("Sources:")
        for citation in record.citations:
            where = format_locator(citation.locator)
            number = (f"[{citation.n}]", "bold cyan")
            console.print(Text.assemble("  ", number, " ", citation.path, " ", (where, "dim")))
    elif record.sources:
        console.print("[dim]Sources given to the model (none supports the answer):[/]")
        for source in record.sources:
            where = format_locator(source.locator)
            console.print(Text.assemble("  ", source.path, " ", (where, "dim")))
    console.print(Text(f"answer {record.id} · {timing_line(record)}", style="dim"))


def _answer_text(record: AnswerRecord) -> Text:
    """The answer with unsupported sentences in yellow."""
    from rich.text import Text

    text = Text()
    for piece in answer_pieces(record):
        text.append(piece.text, style="yellow" if piece.unsupported else "")
    return text
