"""`workbench doctor`: the coverage report, and which optional engines are missing."""

from __future__ import annotations

from typing import Any

import typer

from workbench.cli.common import JsonFlag, get_workbench
from workbench.cli.output import console, print_json, run_with_progress
from workbench.presentation import STATUSES, coverage_rows

LISTED = 20  # longer lists are cut, with a count; --json has them all


def register(app: typer.Typer) -> None:
    app.command()(doctor)
    app.command()(repair)


def doctor(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Coverage report: files per kind and status, OCR pages, files without text, failures
    with reasons, and missing optional engines (OCR, speech) with the files they affect."""
    report = get_workbench(ctx).doctor()
    if json_:
        print_json(report.as_json())
        raise typer.Exit(1 if report.damaged else 0)
    if report.damaged:
        console.print("[bold red]The library index is damaged[/]: run `workbench repair` to "
                      "rebuild it from the files in your folders.")  # fmt: skip
        for problem in report.problems:
            console.print(f"  {problem}", markup=False)
        raise typer.Exit(1)
    coverage = report.coverage
    _print_counts(coverage)
    _print_ocr(coverage["ocr"], report.settings)
    _print_list("No text", coverage["no_text"])
    _print_list("Failed", coverage["failed"])
    skipped = [row for row in coverage["skipped"] if row not in coverage["no_text"]]
    _print_list("Skipped", skipped)
    _print_engines(coverage["engines"])


def _print_counts(coverage: dict[str, Any]) -> None:
    files = coverage["files"]
    console.print(
        f"[bold]{files['total']}[/] files: [green]{files['indexed']} indexed[/], "
        f"[red]{files['failed']} failed[/], [yellow]{files['skipped']} skipped[/]"
    )
    if not coverage["by_kind"]:
        console.print("Nothing synced yet: `workbench add PATH`, then `workbench ingest`.")
        return
    from rich.table import Table

    table = Table("kind", *STATUSES, box=None, pad_edge=False)
    for row in coverage_rows(coverage["by_kind"]):
        table.add_row(*row)
    console.print(table)


def _print_ocr(ocr: dict[str, Any], settings: dict[str, Any]) -> None:
    console.print(
        f"\n[bold]OCR[/] ({settings['ocr_language']}): {ocr['pages']} pages read in "
        f"{ocr['files']} files"
    )
    if ocr["capped_pages"]:
        console.print(
            f"  [yellow]{ocr['capped_pages']} pages left out[/] over ocr_max_pages = "
            f"{settings['ocr_max_pages']}:"
        )
        for document in [d for d in ocr["documents"] if "ocr_capped" in d][:LISTED]:
            console.print(f"    {document['path']}: pages {document['ocr_capped']}")
    if ocr["missing_engine_pages"]:
        console.print(
            f"  [red]{ocr['missing_engine_pages']} pages not read[/]: no OCR engine (see Engines)"
        )


def _print_list(title: str, rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    console.print(f"\n[bold]{title}[/]: {len(rows)} files")
    for row in rows[:LISTED]:
        console.print(f"  {row['path']}: {row['reason']}", markup=False)
    if len(rows) > LISTED:
        console.print(f"  … and {len(rows) - LISTED} more (`workbench doctor --json`)")


def _print_engines(engines: list[dict[str, Any]]) -> None:
    console.print("\n[bold]Engines[/]")
    for engine in engines:
        mark = "[green]ok[/]     " if engine["available"] else "[red]missing[/]"
        console.print(f"  {mark} {engine['name']}: {engine['role']} ({engine['detail']})")
        if engine["available"]:
            continue
        console.print(f"          to fix: {engine['install']}", markup=False)
        affected = engine["affected"]
        console.print(f"          affects {len(affected)} files in the library")
        for path in affected[:LISTED]:
            console.print(f"            {path}", markup=False)
        if len(affected) > LISTED:
            console.print(f"            … and {len(affected) - LISTED} more")


def repair(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Rebuild the library index from the files in your folders (after damage, e.g. a
    truncated file). Folders, cached vectors and the answer log are kept where readable; the
    old index is moved aside, not deleted."""
    workbench = get_workbench(ctx)
    result = run_with_progress(lambda **kw: workbench.repair(**kw), quiet=json_)
    if json_:
        print_json(result.as_json())
        return
    problems = result.problems
    console.print(
        f"Checked the index: {len(problems)} damaged table(s)" if problems else
        "Checked the index: no damage found; rebuilt it anyway."
    )  # fmt: skip
    for problem in problems:
        console.print(f"  {problem}", markup=False)
    salvaged = result.salvaged
    console.print(
        f"Kept {salvaged['folders']['kept']} folder(s), "
        f"{salvaged['embeddings']['kept']} cached vectors "
        f"({salvaged['embeddings']['lost']} unreadable, computed again), "
        f"{salvaged['answers']['kept']} logged answers ({salvaged['answers']['lost']} lost)."
    )
    if result.sync is None:
        console.print("No folders could be read back: add them again with `workbench add PATH`.")
    else:
        sync = result.sync
        console.print(
            f"Rebuilt from disk: {sync.new} files indexed, {sync.failed} failed, "
            f"{sync.skipped} skipped; {sync.reused} vectors reused, {sync.embedded} embedded."
        )
    console.print(
        f"The damaged index was moved to {result.damaged_copy}; delete it once you no "
        "longer need it.",
        markup=False,
    )
