"""`workbench` command line: library, search and evaluation commands over the facade.

This module builds the app from the command modules; they import ``common`` and ``output``,
never this module, so the imports run one way.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import click
import typer

from workbench.cli import (
    agent,
    ask,
    backends,
    doctor,
    eval_cmd,
    history,
    library,
    models,
    service,
    stats,
    watch,
)
from workbench.cli.common import OFFLINE, PLUGIN_MANAGER, get_workbench, launch_ui
from workbench.cli.output import err_console, print_error, report_unexpected
from workbench.errors import WorkbenchError


class WorkbenchGroup(typer.core.TyperGroup):
    """Prints WorkbenchError as a panel on stderr and exits 1, for every command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            print_error(exc.title, exc.message)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("Interrupted.")
            raise typer.Exit(130) from None
        # typer vendors its own click: a bad option value (`--k 0`) raises typer's
        # BadParameter, a TyperException and not a click.ClickException.
        except (
            click.ClickException,
            click.exceptions.Exit,
            click.Abort,
            typer.Exit,
            typer.Abort,
            typer.TyperException,
        ):
            raise
        except Exception as exc:  # a bug: a message and a saved traceback, never a traceback
            if os.environ.get("WORKBENCH_DEBUG"):
                raise
            report_unexpected(exc)
            raise typer.Exit(2) from None


def build_cli(plugin_manager: Any | None = None) -> typer.Typer:
    """The Typer app; plugins add commands through ``register_commands``."""
    app = typer.Typer(
        name="workbench",
        help="Workbench: index your folders, search them, ask them. Local-first.",
        no_args_is_help=False,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=WorkbenchGroup,
    )

    def root(
        ctx: typer.Context,
        offline: Annotated[
            bool,
            typer.Option(
                "--offline",
                help="Send nothing off this machine: remote backends are refused (and their "
                "fallbacks used), whatever config.toml says.",
            ),
        ] = False,
    ) -> None:
        ctx.meta[PLUGIN_MANAGER] = plugin_manager  # meta is shared with every subcommand
        ctx.meta[OFFLINE] = offline
        open_ui(ctx)

    root.__doc__ = open_ui.__doc__
    app.callback(invoke_without_command=True)(root)
    library.register(app)
    watch.register(app)
    eval_cmd.register(app)
    doctor.register(app)
    ask.register(app)
    models.register(app)
    backends.register(app)
    agent.register(app)
    history.register(app)
    stats.register(app)
    service.register(app)
    if plugin_manager is not None:
        plugin_manager.hook.register_commands(cli=app)
    return app


def open_ui(ctx: typer.Context) -> None:
    """Workbench: index your folders, search them, ask them. Local-first.

    With no command, opens the terminal UI.
    """
    if ctx.invoked_subcommand is None:
        launch_ui(get_workbench(ctx, long_running=True))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn expected failures into a message, not a traceback."""
    plugin_manager = None
    try:
        if not _is_help(argv if argv is not None else sys.argv[1:]):
            from workbench.workbench import load_plugins

            plugin_manager = load_plugins()
        app = build_cli(plugin_manager)
        app(args=argv, prog_name="workbench", standalone_mode=True)
    except WorkbenchError as exc:
        print_error(exc.title, exc.message)
        sys.exit(1)
    except Exception as exc:  # e.g. a plugin that fails to load
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        report_unexpected(exc)
        sys.exit(2)


def _is_help(args: list[str]) -> bool:
    return bool(args) and args[0] in {"--help", "-h"}
