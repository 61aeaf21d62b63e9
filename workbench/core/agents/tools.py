"""The built-in agent tools, registered through ``register_tools`` as a plugin's would be.

Each tool is a small object (``name``, ``description``, ``parameters``, ``run``). The ones
that work on the library take the run's ``ToolContext`` through ``bind(context)``, which
returns the tool ready to run; a plugin's tool without ``bind`` runs as it is. Every path a
tool touches goes through the context's ``Confinement``. Text a tool returns is numbered
``[n]`` where it came from a file, so the final answer can cite it and be checked against it.
"""

from __future__ import annotations

import ast
import csv
import operator
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench.core.agents.confinement import Confinement, ToolError
from workbench.core.index.store import sql_str

RESULT_CHARS = 1200  # of one tool result: small models have small windows
SNIPPET_CHARS = 300  # of one search hit
KINDS = ["markdown", "text", "rst", "code", "data", "html", "pdf", "image", "audio", "docx",
         "pptx", "xlsx", "epub"]  # fmt: skip


@dataclass
class Snippet:
    """Text a tool showed the model, numbered so the answer can cite it."""

    n: int
    chunk: str
    path: str
    locator: dict[str, Any]
    text: str


@dataclass
class ToolContext:
    """What the tools of one run work on."""

    library: Any  # core.index.library.Library
    confinement: Confinement
    write_dir: Path | None = None  # write_note exists only with --allow-write DIR
    snippets: list[Snippet] = field(default_factory=list)

    def cite(self, chunk: str, path: str, locator: dict[str, Any], text: str) -> int:
        """The number of this text (the same chunk keeps its number)."""
        for snippet in self.snippets:
            if snippet.chunk == chunk and snippet.text == text:
                return snippet.n
        self.snippets.append(Snippet(len(self.snippets) + 1, chunk, path, locator, text))
        return len(self.snippets)


def readable(text: str) -> str:
    """A table chunk ("columns: a,b" then rows) as one "a X, b Y" line per row: small models
    misread bare comma-separated rows; other text as it is."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines or not lines[0].startswith("columns: "):
        return text.strip()
    names = next(csv.reader([lines[0][len("columns: ") :]]))
    rows = []
    for values in csv.reader(lines[1:]):
        pairs = [f"{name} {value}" for name, value in zip(names, values, strict=False) if value]
        rows.append(", ".join(pairs))
    return "\n".join(rows)


def clipped(text: str, limit: int = RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class BoundTool:
    """A built-in tool bound to a run's context."""

    tool: Any
    context: ToolContext

    @property
    def name(self) -> str:
        return str(self.tool.name)

    @property
    def description(self) -> str:
        return str(self.tool.description)

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.tool.parameters)

    def run(self, arguments: dict[str, Any]) -> str:
        return str(self.tool.call(self.context, arguments))


class ContextTool:
    """Base of the built-in tools that need the run's context."""

    name = ""
    description = ""
    parameters: dict[str, Any] = {}

    def bind(self, context: ToolContext) -> BoundTool:
        return BoundTool(self, context)

    def run(self, arguments: dict[str, Any]) -> str:
        raise ToolError(f"'{self.name}' works only inside an agent run.")

    def call(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        raise NotImplementedError


class SearchTool(ContextTool):
    name = "search"
    description = (
        'Find passages in the files that match a query (words or meaning). kind "any" and '
        "no path search every file."
    )
    parameters = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 200},
            "kind": {"type": "string", "enum": ["any", *KINDS]},
            "path": {"type": "string", "maxLength": 300, "description": "a glob, e.g. *.csv"},
        },
        "required": ["query"],
        "additionalProperties": False,
    }

    def call(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        kind = arguments.get("kind")
        hits = context.library.search(
            arguments["query"], k=5, kind=None if kind in (None, "any") else kind,
            path_glob=arguments.get("path") or None,
        )  # fmt: skip
        lines = []
        for hit in hits:
            if not context.confinement.inside(hit.path):
                continue  # a file whose folder was removed since it was indexed
            text = readable(hit.text)
            n = context.cite(hit.id, hit.path, hit.locator, text)
            snippet = clipped("; ".join(text.splitlines()), SNIPPET_CHARS)
            lines.append(f"[{n}] {hit.path} ({_where(hit.locator)}): {snippet}")
        return clipped("\n".join(lines)) if lines else "No passages match. Try other words."


class ReadTool(ContextTool):
    name = "read"
    description = "Read a file's text, or only lines START to END of it (from search results)."
    parameters = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "minLength": 1, "maxLength": 500},
            "start_line": {"type": "integer", "minimum": 1},
            "end_line": {"type": "integer", "minimum": 1},
        },
        "required": ["path"],
        "additionalProperties": False,
    }

    def call(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        path, rows = passages(context, arguments["path"], arguments.get("start_line"),
                              arguments.get("end_line"))  # fmt: skip
        if not rows:
            return f"{path} has no text there (it has {_line_count(context, path)} lines)."
        parts = []
        for row in rows:
            locator = _locator(row["locator"])
            n = context.cite(row["id"], path, locator, readable(row["text"]))
            parts.append(f"[{n}] ({_where(locator)}) {readable(row['text'])}")
        return clipped("\n".join(parts))


class ListFilesTool(ContextTool):
    name = "list_files"
    description = "List the library's files: all, in one folder, of one kind, or changed since."
    parameters = {
        "type": "object",
        "properties": {
            "folder": {"type": "string", "maxLength": 500},
            "kind": {"type": "string", "enum": KINDS},
            "modified_after": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$",
                               "description": "YYYY-MM-DD"},
        },
        "additionalProperties": False,
    }  # fmt: skip

    def call(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        folders = context.library.folders()
        if arguments.get("folder"):
            wanted = str(context.confinement.resolve(arguments["folder"]))
            folders = [f for f in folders if os.path.realpath(f) == wanted] or folders
            prefix = wanted + os.sep
        else:
            prefix = ""
        since = _date(arguments.get("modified_after"))
        lines = []
        for folder in folders:
            for state in context.library.file_states(folder):
                real = os.path.realpath(state.path)
                if (prefix and not real.startswith(prefix)) or (
                    arguments.get("kind") and state.kind != arguments["kind"]
                ):
                    continue
                modified = _mtime(real)
                if since and (modified is None or modified < since):
                    continue
                when = modified.strftime("%Y-%m-%d") if modified else "?"
                lines.append(f"{state.path} · {state.kind} · {state.status} · modified {when}")
        return clipped("\n".join(lines)) if lines else "No files match."


class FileInfoTool(ContextTool):
    name = "file_info"
    description = "Facts about one file: status, size, dates, kind, how its text was read."
    parameters = {
        "type": "object",
        "properties": {"path": {"type": "string", "minLength": 1, "maxLength": 500}},
        "required": ["path"],
        "additionalProperties": False,
    }

    def call(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        real = context.confinement.resolve(arguments["path"])
        rows = [row for raw in {arguments["path"].strip(), str(real)}
                for row in context.library.store.files.search()
                .where(f"path = {sql_str(raw)}").limit(1).to_arrow().to_pylist()]  # fmt: skip
        stat = real.stat() if real.exists() else None
        facts = [f"path: {rows[0]['path'] if rows else real}"]
        if stat is not None:
            modified = datetime.fromtimestamp(stat.st_mtime)
            facts += [f"size: {stat.st_size} bytes", f"modified: {modified:%Y-%m-%d %H:%M}"]
        if rows:
            row = rows[0]
            facts += [f"kind: {row['kind']}", f"status: {row['status']}",
                      f"chunks: {row['chunks']}", f"read by: {row['extractor']}"]  # fmt: skip
            facts += [f"reason: {row['reason']}"] if row["reason"] else []
        else:
            facts.append("status: not indexed yet")
        return "\n".join(facts)


class CalculateTool(ContextTool):
    name = "calculate"
    description = "Work out arithmetic exactly: numbers with + - * / and parentheses."
    parameters = {
        "type": "object",
        "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": 200}},
        "required": ["expression"],
        "additionalProperties": False,
    }

    def run(self, arguments: dict[str, Any]) -> str:
        return calculate(arguments["expression"])

    def call(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        return self.run(arguments)


class WriteNoteTool(ContextTool):
    name = "write_note"
    description = "Save a text note as a file in the folder the user allowed for writing."
    parameters = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 80,
                     "pattern": r"^[\w][\w .-]*$"},
            "text": {"type": "string", "minLength": 1, "maxLength": 20000},
            "overwrite": {"type": "boolean"},
        },
        "required": ["name", "text"],
        "additionalProperties": False,
    }  # fmt: skip

    def call(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        if context.write_dir is None:
            raise ToolError("Writing is not allowed in this run.")
        root = Path(os.path.realpath(context.write_dir))
        target = root / arguments["name"]
        if Path(os.path.realpath(target)).parent != root:
            raise ToolError(f"A note is a file name only, saved in {root}.")
        existed = target.exists()
        if existed and not arguments.get("overwrite"):
            raise ToolError(
                f"{target} exists. Pick another name, or set overwrite to true to replace it."
            )
        target.write_text(arguments["text"], encoding="utf-8")
        return f"{'Replaced' if existed else 'Saved'} {target} ({len(arguments['text'])} chars)."


BUILTIN_TOOLS: list[ContextTool] = [
    SearchTool(), ReadTool(), ListFilesTool(), FileInfoTool(), CalculateTool(), WriteNoteTool(),
]  # fmt: skip


# -- helpers ------------------------------------------------------------------------------------
_OPERATORS: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos,
}  # fmt: skip
_FUNCTIONS: dict[str, Any] = {"round": round, "abs": abs, "min": min, "max": max}


def calculate(expression: str) -> str:
    """Arithmetic on numbers only (no names, no attributes): the result, or a ToolError."""
    try:
        tree = ast.parse(expression.replace(",", "").replace("×", "*"), mode="eval")
        value = _evaluate(tree.body)
    except ToolError:
        raise
    except (SyntaxError, ZeroDivisionError, OverflowError, TypeError, ValueError) as exc:
        raise ToolError(
            f"Cannot work out '{expression}': {exc}. Use numbers and + - * / ( )."
        ) from None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return f"{expression} = {round(value, 6) if isinstance(value, float) else value}"


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ToolError("Exponents above 100 are not worked out.")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS and not node.keywords):  # fmt: skip
        return _FUNCTIONS[node.func.id](*(_evaluate(arg) for arg in node.args))
    raise ToolError("Only numbers, + - * / // % **, parentheses and round/abs/min/max work.")


def passages(
    context: ToolContext, raw: str, start: int | None = None, end: int | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The library's spelling of the confined path ``raw`` and its indexed chunk rows in
    order, only those overlapping lines ``start``-``end`` when given (``ToolError`` for a
    path outside the library or not in the index)."""
    path = _indexed_path(context, raw)
    rows = sorted(context.library.store.chunk_rows(path), key=lambda row: row["ordinal"])
    if start is not None or end is not None:
        rows = [row for row in rows if _overlaps(row["locator"], start, end)]
    return path, rows


def read_passages(
    library: Any, confinement: Any, raw: str, start: int | None = None, end: int | None = None
) -> dict[str, Any]:
    """``passages`` as a record: {"path", "lines", "passages": [{"ordinal", "locator",
    "text"}]} (for `workbench mcp`'s read tool)."""
    context = ToolContext(library, confinement, None)
    path, rows = passages(context, raw, start, end)
    return {
        "path": path,
        "lines": _line_count(context, path),
        "passages": [
            {"ordinal": row["ordinal"], "locator": _locator(row["locator"]), "text": row["text"]}
            for row in rows
        ],  # fmt: skip
    }


def _indexed_path(context: ToolContext, raw: str) -> str:
    """The library's own spelling of the (confined) path ``raw``."""
    real = str(context.confinement.resolve(raw))
    for candidate in dict.fromkeys([raw.strip(), real]):
        if context.library.store.chunks.count_rows(f"path = {sql_str(candidate)}"):
            return candidate
    raise ToolError(f"{raw} is not in the index (not synced, or no text was read from it).")


def _where(locator: dict[str, Any]) -> str:
    """Where in the file, for the model: 'page 3, lines 10-24'."""
    parts = [f"page {locator['page']}"] if "page" in locator else []
    if "lines" in locator:
        parts.append("lines {}-{}".format(*locator["lines"]))
    if "time" in locator:
        parts.append("{:.0f}-{:.0f} s".format(*locator["time"]))
    return ", ".join(parts) or "whole file"


def _locator(raw: Any) -> dict[str, Any]:
    import json

    return dict(json.loads(raw)) if isinstance(raw, str) and raw else {}


def _overlaps(raw: Any, start: int | None, end: int | None) -> bool:
    lines = _locator(raw).get("lines")
    if not lines:
        return start is None or start <= 1
    first, last = lines
    return (start is None or last >= start) and (end is None or first <= end)


def _line_count(context: ToolContext, path: str) -> int:
    rows = context.library.store.chunk_rows(path)
    return max((_locator(r["locator"]).get("lines", [0, 0])[1] for r in rows), default=0)


def _date(text: str | None) -> datetime | None:
    return datetime.strptime(text, "%Y-%m-%d") if text else None


def _mtime(path: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime)
    except OSError:
        return None
