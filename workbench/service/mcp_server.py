"""`workbench mcp`: the library as Model Context Protocol tools, on the official `mcp` SDK
(2.x, whose ``MCPServer`` was 1.x's FastMCP).

Tools: ``search``, ``ask`` (answer, citations, groundedness), ``read`` (a file's passages,
confined to the library's folders), ``list_files``, ``status`` and ``agent``; with
``--allow-write`` also ``ingest``, the only tool that changes the library. Inputs and outputs
have JSON schemas (from the annotations) and results come back as structured content. A
failure is a tool error carrying the message a person would get, never an empty result.
Over stdio nothing but protocol messages reaches stdout: the SDK points fd 1 at stderr while it
serves, so a library's stray print (or llama.cpp's) cannot corrupt the stream.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import version
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.workbench import Workbench

T = TypeVar("T")
INSTRUCTIONS = (
    "Search and ask the user's own files, indexed locally by Workbench. Prefer `ask` for a "
    "question (its answer cites passages and says how well the sources support it); use "
    "`search` and `read` to look around. Paths are absolute paths inside the library's folders."
)
MAX_TEXT = 4000  # characters of a query, question or task (a longer one is refused, with why)
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CHANGES_LIBRARY = ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                  idempotent_hint=True, open_world_hint=False)  # fmt: skip


class Hit(BaseModel):
    path: str
    locator: dict[str, Any] = Field(description="where in the file: lines, page, heading")
    score: float
    text: str
    kind: str


class SearchOutput(BaseModel):
    results: list[Hit]


class Citation(BaseModel):
    n: int
    path: str
    locator: dict[str, Any]
    text: str


class AskOutput(BaseModel):
    id: str = Field(description="the answer's id in the answer log (`workbench answers show`)")
    answer: str
    citations: list[Citation]
    groundedness: float = Field(description="share of the answer's sentences its sources support")
    unsupported: list[str] = Field(description="answer sentences no source supports")
    declined: bool
    declined_because: str | None
    model: str
    timings: dict[str, float] = Field(description="milliseconds: first_token_ms, total_ms...")


class Passage(BaseModel):
    ordinal: int
    locator: dict[str, Any]
    text: str


class ReadOutput(BaseModel):
    path: str
    lines: int = Field(description="lines the file's indexed text spans")
    passages: list[Passage]


class FileEntry(BaseModel):
    path: str
    kind: str
    status: str = Field(description="indexed, failed, skipped or pending")
    chunks: int
    reason: str


class ListFilesOutput(BaseModel):
    files: list[FileEntry]
    truncated: bool


class StatusOutput(BaseModel):
    folders: list[str]
    files: int
    chunks: int
    version: int
    failed: int


class AgentStepOutput(BaseModel):
    n: int
    tool: str
    arguments: dict[str, Any]
    result: str
    error: str


class AgentOutput(BaseModel):
    id: str
    answer: str
    citations: list[Citation]
    groundedness: float
    stop_reason: str
    steps: list[AgentStepOutput]


class IngestOutput(BaseModel):
    files: dict[str, int]
    chunks: dict[str, int]
    seconds: float
    problems: list[dict[str, str]]


def build_server(workbench: Workbench, *, allow_write: bool = False) -> MCPServer:
    """The MCP server over ``workbench`` (model calls one at a time: one model, one context)."""
    server = MCPServer("workbench", version=version("workbench"), instructions=INSTRUCTIONS)
    model_lock = threading.Lock()

    async def run(work: Callable[[], T], *, model: bool = False) -> T:
        """``work`` on a worker thread; a WorkbenchError becomes a tool error with its message."""

        def guarded() -> T:
            try:
                if model:
                    with model_lock:
                        return work()
                return work()
            except WorkbenchError as exc:
                raise ToolError(f"{exc.title}: {exc.message}") from None
            except Exception as exc:  # a bug: a message, and the traceback saved for a report
                from workbench.presentation import unexpected_message

                raise ToolError(unexpected_message(exc)) from None

        return await anyio.to_thread.run_sync(guarded)

    def listed(model: str | None) -> str | None:
        """A model the client named, if Workbench lists it (never a file path)."""
        return None if model is None else workbench.listed_model(model).name

    @server.tool(annotations=READ_ONLY)
    async def search(
        query: Annotated[
            str, Field(description="words or a question", min_length=1, max_length=MAX_TEXT)
        ],
        k: Annotated[int, Field(ge=1, le=50)] = 10,
        mode: Annotated[str, Field(pattern="^(hybrid|vector|text)$")] = "hybrid",
        kind: Annotated[str | None, Field(description="file kind, e.g. markdown, pdf")] = None,
        path: Annotated[str | None, Field(description="a path glob, e.g. notes/*.md")] = None,
    ) -> SearchOutput:
        """Find passages in the library's files (full text and meaning, fused)."""
        hits = await run(lambda: workbench.search(query, k=k, mode=mode, kind=kind,
                                                  path_glob=path))  # fmt: skip
        return SearchOutput(results=[Hit(**hit.as_json()) for hit in hits])

    @server.tool(annotations=READ_ONLY)
    async def ask(
        question: Annotated[
            str, Field(description="a question about the files", min_length=1, max_length=MAX_TEXT)
        ],
        model: Annotated[str | None, Field(description="a chat model (`workbench models`)")] = None,
    ) -> AskOutput:
        """Answer a question from the library with a local model, citing checked sources; it
        declines (declined=true) rather than guess when the files do not say."""
        record = await run(lambda: workbench.ask(question, model=listed(model)), model=True)
        return ask_output(record.as_json())

    @server.tool(annotations=READ_ONLY)
    async def read(
        path: Annotated[str, Field(description="a file in the library", min_length=1)],
        start_line: Annotated[int | None, Field(ge=1)] = None,
        end_line: Annotated[int | None, Field(ge=1)] = None,
    ) -> ReadOutput:
        """Read a file's indexed text, or only the passages over lines start_line-end_line.
        Only files inside the library's folders can be read."""
        found = await run(lambda: workbench.read(path, start_line, end_line))
        return ReadOutput(**found)

    @server.tool(annotations=READ_ONLY)
    async def list_files(
        folder: Annotated[str | None, Field(description="one library folder")] = None,
        kind: Annotated[str | None, Field(description="file kind, e.g. pdf")] = None,
        limit: Annotated[int, Field(ge=1, le=5000)] = 500,
    ) -> ListFilesOutput:
        """The library's files with their kind and index status."""
        entries = await run(lambda: files(workbench, folder, kind))
        return ListFilesOutput(files=entries[:limit], truncated=len(entries) > limit)

    @server.tool(annotations=READ_ONLY)
    async def status() -> StatusOutput:
        """The library's folders, and how many files and chunks are indexed."""

        def summary() -> StatusOutput:
            data = workbench.status().as_json()
            return StatusOutput(folders=workbench.folders(), files=data["files"],
                                chunks=data["chunks"], version=data["version"],
                                failed=len(data.get("failed", [])))  # fmt: skip

        return await run(summary)

    @server.tool(annotations=READ_ONLY)
    async def agent(
        task: Annotated[
            str,
            Field(description="what to find out from the files", min_length=1, max_length=MAX_TEXT),
        ],
        max_steps: Annotated[int, Field(ge=1, le=20)] = 8,
        model: Annotated[str | None, Field(description="a chat model")] = None,
    ) -> AgentOutput:
        """A local model that searches and reads the library step by step, then answers with
        checked citations (slower than ask; for questions that need several files)."""
        done = await run(
            lambda: workbench.agents.run(task, model=listed(model), max_steps=max_steps),
            model=True,
        )
        data = done.as_json()
        return AgentOutput(
            id=data["id"], answer=data["answer"], groundedness=data["groundedness"],
            citations=[Citation(**c) for c in data["citations"]],
            stop_reason=data["stop_reason"],
            steps=[AgentStepOutput(**{key: s[key] for key in AgentStepOutput.model_fields})
                   for s in data["steps"]],
        )  # fmt: skip

    if allow_write:

        @server.tool(annotations=CHANGES_LIBRARY)
        async def ingest(
            path: Annotated[str | None, Field(description="a library folder or file")] = None,
        ) -> IngestOutput:
            """Sync the library (or one folder or file in it) with the disk."""
            report = await run(lambda: workbench.ingest(path))
            data = report.as_json()
            return IngestOutput(files=data["files"], chunks=data["chunks"],
                                seconds=data["seconds"], problems=data["problems"])  # fmt: skip

    return server


def ask_output(data: dict[str, Any]) -> AskOutput:
    """The `ask --json` record as the ask tool's output."""
    return AskOutput.model_validate({key: data.get(key) for key in AskOutput.model_fields})


def files(workbench: Workbench, folder: str | None, kind: str | None) -> list[FileEntry]:
    folders = workbench.folders()
    if folder is not None:
        chosen = [f for f in folders if f.rstrip("/") == folder.rstrip("/")]
        if not chosen:
            known = ", ".join(folders) or "none yet"
            raise WorkbenchError(f"{folder} is not a library folder. Folders: {known}.",
                                 "Unknown folder")  # fmt: skip
        folders = chosen
    return [
        FileEntry(**state.as_json())
        for name in folders
        for state in workbench.file_states(name)
        if kind is None or state.kind == kind
    ]
