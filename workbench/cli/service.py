"""`workbench mcp` and `workbench serve`: Workbench as a local service for other programs."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from workbench.cli.common import get_workbench
from workbench.cli.output import err_console
from workbench.errors import WorkbenchError


def register(app: typer.Typer) -> None:
    app.command()(mcp)
    app.command()(serve)


def mcp(
    ctx: typer.Context,
    http: Annotated[
        int | None,
        typer.Option("--http", min=1, max=65535, metavar="PORT",
                     help="Serve streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio."),
    ] = None,
    allow_write: Annotated[
        bool,
        typer.Option("--allow-write", help="Also offer the ingest tool, which changes the "
                     "library; without it no tool does."),
    ] = False,
) -> None:  # fmt: skip
    """Serve the library to MCP clients (editors, desktop assistants, coding agents): tools
    search, ask, read, list_files, status and agent, over stdio (default) or streamable HTTP."""
    from workbench.service.mcp_server import build_server

    server = build_server(get_workbench(ctx, long_running=True), allow_write=allow_write)
    if http is None:
        server.run("stdio")
        return
    err_console.print(f"MCP over streamable HTTP at http://127.0.0.1:{http}/mcp (Ctrl-C stops)")
    server.run("streamable-http", host="127.0.0.1", port=http)


def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
    token_env: Annotated[
        str | None,
        typer.Option("--token-env", metavar="NAME",
                     help="Require `Authorization: Bearer <key>`, the key read from the "
                     "environment variable NAME (never from the command line)."),
    ] = None,
) -> None:  # fmt: skip
    """Serve an OpenAI-compatible API on 127.0.0.1: model `workbench` answers from the library
    with checked citations; any other model is that chat model, without the library."""
    from workbench.service.openai_api import build_app
    from workbench.service.openai_api import serve as run_server

    token = None
    if token_env is not None:
        token = os.environ.get(token_env, "")
        if not token.strip():
            raise WorkbenchError(
                f"--token-env {token_env}: that environment variable is not set (or empty). "
                f"Set it to the key clients must send, e.g. `export {token_env}=...`.",
                "No API key",
            )
    app = build_app(get_workbench(ctx, long_running=True), token=token)
    err_console.print(f"OpenAI-compatible API at http://127.0.0.1:{port}/v1 (Ctrl-C stops); "
                      "model `workbench` answers from the library")  # fmt: skip
    run_server(app, port)
