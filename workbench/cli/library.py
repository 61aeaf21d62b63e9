"""Library commands: add, remove, folders, ingest, status, search, paths, plugins, demo."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from workbench.cli.common import JsonFlag, get_workbench, launch_ui
from workbench.cli.history import AsOfOption
from workbench.cli.output import console, print_json, run_with_progress
from workbench.presentation import format_locator, ingest_line

if TYPE_CHECKING:
    from workbench.core.index.records import FileProblem
    from workbench.core.index.sync import SyncReport

STATUS_LIST_LIMIT = 20  # failed files and skip reasons shown before "--all lists them"


def register(app: typer.Typer) -> None:
    for command in (add, remove, folders, ingest, status, search, paths, plugins, demo):
        app.command()(command)


def add(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Folder to add to the library.")],
    json_: JsonFlag = False,
) -> None:
    """Add a folder to the library (then run `workbench ingest`)."""
    folder = get_workbench(ctx).add_folder(path)
    if json_:
        print_json({"added": folder})
    else:
        console.print(f"Added [bold]{folder}[/]. Run `workbench ingest` to index it.")


def remove(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Library folder to remove.")],
    json_: JsonFlag = False,
) -> None:
    """Remove a folder from the library and purge its files from the index."""
    purged = get_workbench(ctx).remove_folder(path)
    if json_:
        print_json({"removed": path, "files_purged": purged})
    else:
        console.print(f"Removed {path}; {purged} files purged from the index.")


def folders(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """List the library's folders with their file and chunk counts."""
    rows = get_workbench(ctx).folder_summaries()
    if json_:
        print_json({"folders": [row.as_json() for row in rows]})
        return
    if not rows:
        console.print("No folders yet. Add one with `workbench add PATH`.")
        return
    from rich.table import Table

    table = Table("folder", "files", "not indexed", "chunks")
    for row in rows:
        name = row.path if row.exists else f"{row.path} [red](missing)[/]"
        table.add_row(name, str(row.files), str(row.not_indexed), str(row.chunks))
    console.print(table)


def ingest(
    ctx: typer.Context,
    path: Annotated[
        str | None, typer.Argument(help="A library folder or file; all folders when omitted.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Where changed files are read, extracted and embedded: local (this process) "
            "or ray (Ray tasks on this machine's cores or a cluster; pip install "
            "'workbench[scale]').",
            metavar="local|ray",
        ),
    ] = "local",
    address: Annotated[
        str,
        typer.Option(
            "--address",
            help="The Ray cluster to use with --engine ray (e.g. 10.0.0.5:6379); "
            "without it Ray runs on this machine.",
            metavar="HOST:PORT",
        ),
    ] = "",
    json_: JsonFlag = False,
) -> None:
    """Sync the index with the disk: only new and changed files are processed."""
    workbench = get_workbench(ctx)
    report = run_with_progress(
        lambda **kw: workbench.ingest(path, engine=engine, address=address, **kw), quiet=json_
    )
    if json_:
        print_json(report.as_json())
        return
    _print_ingest_summary(report)


def _print_ingest_summary(report: SyncReport) -> None:
    console.print(ingest_line(report))
    for problem in report.problems[:20]:
        console.print(f"  [yellow]{problem['status']}[/] {problem['path']}: {problem['reason']}")
    if len(report.problems) > 20:
        console.print(f"  … and {len(report.problems) - 20} more (see `workbench status`).")
    for missing in report.missing_folders:
        console.print(f"  [red]missing folder[/] {missing}: kept its index; reconnect it and sync.")
    if report.interrupted:
        console.print(
            "[yellow]Interrupted[/]: finished files are saved; run ingest again to go on."
        )


def status(
    ctx: typer.Context,
    all_: Annotated[
        bool, typer.Option("--all", help="List every skipped file, not a summary by reason.")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Show what the index holds and which files are not indexed, and why."""
    status = get_workbench(ctx).status()
    if json_:
        print_json(status.as_json())
        return
    console.print(
        f"[bold]{status.files}[/] files indexed in {len(status.folders)} folders, "
        f"[bold]{status.chunks}[/] chunks (index version {status.version})."
    )
    if status.by_kind:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(status.by_kind.items()))
        console.print(f"By kind: {kinds}")
    failed = [row for row in status.failed if row.status == "failed"]
    skipped = [row for row in status.failed if row.status != "failed"]
    if failed:
        console.print(f"[red]{len(failed)} files failed[/] (fix them, then sync again):")
        for row in failed[:STATUS_LIST_LIMIT] if not all_ else failed:
            console.print(f"  {row.path}: {row.reason}", markup=False, highlight=False)
        if len(failed) > STATUS_LIST_LIMIT and not all_:
            console.print(f"  … and {len(failed) - STATUS_LIST_LIMIT} more (--all lists them)")
    if skipped and all_:
        console.print(f"[yellow]{len(skipped)} files skipped:[/]")
        for row in skipped:
            console.print(f"  {row.path}: {row.reason}", markup=False, highlight=False)
    elif skipped:
        console.print(f"[yellow]{len(skipped)} files skipped[/], by reason:")
        for reason, rows in _by_reason(skipped)[:STATUS_LIST_LIMIT]:
            example = rows[0].path + (f" and {len(rows) - 1} more" if len(rows) > 1 else "")
            console.print(f"  {reason}: {example}", markup=False, highlight=False)
        console.print("  (`workbench status --all` lists every file)")


def _by_reason(rows: list[FileProblem]) -> list[tuple[str, list[FileProblem]]]:
    """Rows grouped by reason, the most common reason first."""
    groups: dict[str, list[FileProblem]] = {}
    for row in rows:
        groups.setdefault(row.reason, []).append(row)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Number of results.")] = 10,
    mode: Annotated[str, typer.Option(help="hybrid, vector or text.")] = "hybrid",
    kind: Annotated[str | None, typer.Option(help="Only this kind (markdown, code, ...).")] = None,
    path: Annotated[
        str | None, typer.Option("--path", help="Only paths matching this glob.")
    ] = None,
    as_of: AsOfOption = None,
    json_: JsonFlag = False,
) -> None:
    """Search the library (hybrid: meaning and exact words together)."""
    workbench = get_workbench(ctx)
    past = workbench.resolve_version(as_of) if as_of else None
    results = workbench.search(query, k=k, mode=mode, kind=kind, path_glob=path, as_of=as_of)
    if json_:
        print_json(
            {"results": [r.as_json() for r in results], "as_of": past.as_json() if past else None}
        )
        return
    if past:
        console.print(f"[yellow]Searching {past.describe()}.[/]")
    if not results:
        console.print("No results. Try other words, or check `workbench status`.")
        return
    for rank, result in enumerate(results, start=1):
        snippet = " ".join(result.text.split())
        snippet = snippet[:240] + ("…" if len(snippet) > 240 else "")
        console.print(
            f"[bold cyan]{rank}.[/] [bold]{result.path}[/] [dim]{format_locator(result.locator)} "
            f"· {result.kind} · {result.score:.4f}[/]"
        )
        console.print(f"   {snippet}", markup=False)


def paths(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Print where Workbench keeps its config, library and caches."""
    data = get_workbench(ctx).where()
    if json_:
        print_json(data)
        return
    for name, value in data.items():
        console.print(f"{name:12} {value}")


def plugins(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """List loaded plugins, how each was loaded and the hooks each implements."""
    rows = get_workbench(ctx).plugin_list()
    if json_:
        print_json({"plugins": rows})
        return
    for row in rows:
        origin = row.get("path") or " ".join(filter(None, [row["distribution"], row["version"]]))
        hooks = ", ".join(row["hooks"]) or "(no hooks)"
        console.print(
            f"[bold]{row['name']}[/] ({row['source']}: {origin}): {hooks}", highlight=False
        )


def demo(
    ctx: typer.Context,
    headless: Annotated[
        bool, typer.Option("--headless", help="Print the searches instead of opening the UI.")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Open the terminal UI on the bundled demo library (headless: index it and search it)."""
    interactive = not (headless or json_) and sys.stdin.isatty() and sys.stdout.isatty()
    workbench = get_workbench(ctx, long_running=interactive)  # the UI serves metrics_port
    folder = workbench.add_demo()
    if interactive:
        launch_ui(workbench)  # the app's watcher indexes the demo folder on start
        return
    report = run_with_progress(lambda **kw: workbench.ingest(folder, **kw), quiet=json_)
    queries = ["how do I reset my password", "quarterly revenue", "retry with exponential backoff"]
    results = {q: workbench.search(q, k=3, path_glob=folder + "/*") for q in queries}
    if json_:
        print_json(
            {
                "folder": folder,
                "ingest": report.as_json(),
                "searches": {q: [r.as_json() for r in rs] for q, rs in results.items()},
            }
        )
        return
    console.print(f"Demo library: [bold]{folder}[/]")
    _print_ingest_summary(report)
    for query, hits in results.items():
        console.print(f"\n[bold]workbench search[/] {query!r}")
        for rank, hit in enumerate(hits, start=1):
            relative = hit.path[len(folder) + 1 :]
            console.print(f"  {rank}. {relative} [dim]{format_locator(hit.locator)}[/]")
    console.print(
        "\nTry your own: `workbench add ~/notes && workbench ingest && workbench search ...`"
    )
    sys.stdout.flush()
