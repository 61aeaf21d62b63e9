"""`workbench backends` (list, check, receipts): the remote backends of config.toml, their
health, and what was sent to them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, print_json
from workbench.presentation import receipt_lines

if TYPE_CHECKING:
    from workbench.backends.remote.health import BackendHealth

backends_app = typer.Typer(help="Remote backends ([backends.NAME] in config.toml): health.")
STATE_STYLES = {"ready": "green", "failing": "red", "offline": "yellow", "not installed": "red"}


def register(app: typer.Typer) -> None:
    app.add_typer(backends_app, name="backends")


@backends_app.callback(invoke_without_command=True)
def backends_default(ctx: typer.Context) -> None:
    """Remote backends ([backends.NAME] in config.toml): health and latency."""
    if ctx.invoked_subcommand is None:
        list_backends(ctx)


@backends_app.command("list")
def list_backends(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Each configured backend, asked (side by side) whether it is ready, and how fast."""
    workbench = get_workbench(ctx)
    found = workbench.catalog.health()
    if json_:
        print_json({"offline": workbench.settings.offline,
                    "backends": [h.as_json() for h in found]})  # fmt: skip
        return
    if not found:
        console.print(
            "No remote backends. Add a [backends.NAME] block to "
            f'{workbench.paths.config_file} (README, "Remote backends"); answers run locally.'
        )
        return
    from rich import box
    from rich.table import Table

    table = Table("name", "type", "host", "model", "state", "latency", "breaker", "key", "fallback",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)  # fmt: skip
    for health in found:
        table.add_row(
            health.name, health.type, health.host, health.model, _state(health),
            f"{health.latency_ms:.0f} ms" if health.latency_ms is not None else "-",
            health.breaker, health.key, health.fallback or "-",
        )  # fmt: skip
    console.print(table)
    for health in found:
        if health.error:
            console.print(f"[dim]{health.name}: {health.error}[/]")
    if workbench.settings.offline:
        console.print("[yellow]Offline mode is on: nothing is sent to these backends.[/]")


@backends_app.command("check")
def check_backend(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A backend from `workbench backends list`.")],
    json_: JsonFlag = False,
) -> None:
    """Ask one backend whether it is ready and serves its model; exit 1 when it is not."""
    (health,) = get_workbench(ctx).catalog.health(name)
    if json_:
        print_json(health.as_json())
    else:
        latency = f" in {health.latency_ms:.0f} ms" if health.latency_ms is not None else ""
        console.print(f"[bold]{health.name}[/] ({health.type}, {health.host}): "
                      f"{_state(health)}{latency}")  # fmt: skip
        fallback = health.fallback or "nothing"
        console.print(f"  model {health.model or '-'} · key: {health.key} · breaker "
                      f"{health.breaker} · falls back to {fallback}")  # fmt: skip
        if health.models:
            console.print(f"  the server serves: {', '.join(health.models)}")
        if health.error:
            console.print(f"  [red]{health.error}[/]")
    if not health.ready:
        raise typer.Exit(1)


@backends_app.command("receipts")
def list_receipts(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many, newest first.")] = (
        20
    ),
    json_: JsonFlag = False,
) -> None:
    """What was sent where: the latest remote requests that carried library text (answers and
    remote embedding alike), newest first."""
    workbench = get_workbench(ctx)
    receipts = workbench.catalog.journal.recent(limit)
    if json_:
        print_json({"receipts": receipts})
        return
    if not receipts:
        console.print("Nothing has been sent off this machine.")
        return
    from rich.text import Text

    for line in receipt_lines(receipts):
        console.print(Text(line))
    console.print(f"[dim]Kept in {workbench.catalog.journal.path}[/]")


def _state(health: BackendHealth) -> str:
    return f"[{STATE_STYLES.get(health.state, 'dim')}]{health.state}[/]"
