"""`workbench versions`, `tag`, `untag`, `lineage`, `forget`, `unforget`: what the library
keeps, where it came from, and how it is removed for good."""

from __future__ import annotations

from typing import Annotated

import typer

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, print_json
from workbench.presentation import size_label

AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="VERSION|TAG|TIME",
        help="Use the library as it was: an index version, a tag, or an ISO time "
        "(see `workbench versions`).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(versions)
    app.command()(tag)
    app.command()(untag)
    app.command()(forget)
    app.command()(unforget)
    app.command()(lineage)


def versions(
    ctx: typer.Context,
    every: Annotated[
        bool, typer.Option("--all", help="Every kept version, not only those a sync ended on.")
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Kept index versions, newest first: when, what changed, tags."""
    workbench = get_workbench(ctx)
    rows = workbench.versions(every)
    usage = workbench.history_usage()
    if json_:
        print_json({"versions": [row.as_json() for row in rows], "history": usage})
        return
    from rich.table import Table

    table = Table("version", "created", "new", "changed", "deleted", "tags")
    for row in rows:
        counts = (
            [str(row.new), str(row.changed), str(row.deleted + row.renamed)]
            if row.synced
            else ["", "", ""]
        )
        label = f"{row.version}{' (current)' if row.current else ''}"
        table.add_row(
            label, row.created.strftime("%Y-%m-%d %H:%M:%S"), *counts, ", ".join(row.tags)
        )
    console.print(table)
    console.print(
        f"[dim]History takes {size_label(usage['history_bytes'])} next to the index's "
        f"{size_label(usage['index_bytes'])} (budget {size_label(usage['budget_bytes'])}). "
        f"Untagged versions are kept {usage['keep_days']:g} days, the oldest going early "
        "past the budget. Use one with `--as-of VERSION|TAG|TIME` on search and ask; keep one "
        "with `workbench tag NAME [VERSION]`.[/]"
    )


def tag(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Tag name: a letter, then letters, digits . - _")],
    version: Annotated[
        str | None,
        typer.Argument(metavar="[VERSION]", help="Version, tag or time (default: current)."),
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """Pin an index version (default: the current one): kept until `workbench untag`."""
    pinned = get_workbench(ctx).tag(name, version)
    if json_:
        print_json({"tag": name} | pinned.as_json())
        return
    console.print(
        f"Tagged version {pinned.version} ({pinned.created:%Y-%m-%d %H:%M:%S}) as "
        f"[bold]{name}[/]. Use it with `--as-of {name}`."
    )


def untag(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The tag to remove.")],
    json_: JsonFlag = False,
) -> None:
    """Remove a tag; its version is then pruned like any other."""
    version = get_workbench(ctx).untag(name)
    if json_:
        print_json({"tag": name, "version": version, "removed": True})
        return
    console.print(f"Removed tag {name} (version {version}).")


def forget(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH|FOLDER", help="What to forget.")],
    match: Annotated[
        str | None,
        typer.Option("--match", metavar="TEXT", help="Only files whose text holds TEXT."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask to confirm.")] = False,
    json_: JsonFlag = False,
) -> None:
    """Remove a file or folder from the index, every kept version and tag, the caches and
    the logs, and prove it: a scan afterwards must find none of it."""
    if not (yes or json_) and console.is_terminal:
        scope = f"{path}" + (f" (files holding '{match}')" if match else "")
        typer.confirm(
            f"Forget {scope} everywhere? Versions between tags are dropped, and answers that "
            "used it are redacted. This cannot be undone.",
            abort=True,
        )
    result = get_workbench(ctx).forget(path, match=match)
    if json_:
        print_json(result.as_json())
        return
    receipt = result.receipt
    removed = receipt["removed"]
    verification = receipt["verification"]
    console.print(f"Forgot {len(result.paths)} file(s):", highlight=False)
    for forgotten_path in result.paths[:20]:
        console.print(f"  {forgotten_path}", markup=False, highlight=False)
    if len(result.paths) > 20:
        console.print(f"  … and {len(result.paths) - 20} more")
    console.print(
        f"Removed {removed['chunks']} chunks, {removed['vector_cache']} cached vectors, "
        f"{removed['thumbnails']} thumbnails; dropped {removed['versions_dropped']} old versions"
        f", rewrote {len(removed['tags_rewritten'])} tags; redacted {removed.get('answers', 0)} "
        f"answers, {removed.get('agent_runs', 0)} agent runs, {removed['receipts_journal']} "
        "receipts."
    )
    console.print(
        f"[green]Verified[/]: {verification['versions_scanned']} versions of "
        f"{verification['tables']} tables and {verification['files_scanned']} files scanned, "
        f"0 matches. Receipt {receipt['id']} ({receipt['seconds']:.1f}s)."
    )
    if receipt["skipped_by_sync"]:
        console.print(
            f"[dim]{receipt['skipped_by_sync']} file(s) are still on disk: syncs skip them "
            "now (`workbench unforget PATH` indexes one again).[/]"
        )


def unforget(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A forgotten file still on disk.")],
) -> None:
    """Let syncs index a forgotten file again (its old versions stay gone)."""
    if get_workbench(ctx).unforget(path):
        console.print(f"{path} will be indexed by the next sync (`workbench ingest`).")
    else:
        console.print(f"{path} was not forgotten; nothing to do.")


def lineage(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A file in the library (or once in it).")],
    json_: JsonFlag = False,
) -> None:
    """Where a file's index rows came from, the versions in which it changed, and the
    answers that used it."""
    found = get_workbench(ctx).lineage(path)
    if json_:
        print_json(found.as_json())
        return
    console.print(f"[bold]{found.path}[/]", highlight=False)
    row = found.indexed
    if row is None:
        console.print("  not in the index now")
    else:
        console.print(
            f"  {row['status']} {row['indexed_at']} · {row['kind']} · {row['size']} bytes · "
            f"sha256 {row['hash'] or '-'}",
            highlight=False,
        )
        console.print(
            f"  extractor {row['extractor']} {row['extractor_version']} · {row['chunks']} "
            f"chunks of at most {found.chunker['chunk_tokens']} tokens · embedder "
            f"{row['embedder']}",
            highlight=False,
        )
    for engine in found.engines:
        console.print(f"  engine {engine['name']}: {engine['detail']}", highlight=False)
    for change in found.versions:
        console.print(
            f"  version {change['version']} {change['created']}: {change['action']}",
            highlight=False,
        )
    if found.tags:
        console.print(f"  held by tags: {', '.join(found.tags)}", highlight=False)
    for answer in found.answers:
        how = "cited" if answer["cited"] else "shown"
        console.print(
            f"  answer {answer['id']} ({how}, {answer['created']}): {answer['question']}",
            highlight=False,
        )
