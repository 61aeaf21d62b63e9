"""The agent loop: a model that uses tools over the library, one schema-valid step at a time.

Each step the model decodes one JSON object under the grammar of every possible step
(``steps.py``), so it is well-formed by construction; its arguments are then checked against
the tool's full schema. A bad step (cut off, or breaking a tool's limits), a refused path or a
failing tool is told to the model as the step's result and counts as a step. The run ends with
the model's final answer, or at the step limit, the time limit, a call repeated after it was
told the call repeats, or Esc; the reason is recorded. The final answer goes through the same
grounding check as `ask`: its sentences against the passages the tools showed, each cited [n].
Every run is logged with every step (``agent_runs`` table).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from workbench.core import telemetry
from workbench.core.agents.confinement import Confinement, ToolError
from workbench.core.agents.records import AgentRun, AgentStep
from workbench.core.agents.steps import Call, StepError, parse_step, step_schema
from workbench.core.agents.tools import ToolContext, clipped
from workbench.core.answering.answers import new_answer_id, record_by_id
from workbench.core.answering.chat import ChatParams
from workbench.core.answering.grounding import prepare_passages
from workbench.core.answering.rag import Source, check_and_cite
from workbench.core.foreground import foreground, signal_file
from workbench.core.index.failures import explaining
from workbench.core.index.location import Location
from workbench.core.telemetry import genai
from workbench.errors import WorkbenchError

STEP_TOKENS = 384  # one step: a call, or a final answer of a few sentences (600 chars)
AGENT_RUNS = "agent_runs"
RUNS_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False), pa.field("created", pa.float64()),
    pa.field("task", pa.string()), pa.field("model", pa.string()),
    pa.field("stop_reason", pa.string()), pa.field("record", pa.string()),
])  # fmt: skip
SYSTEM = """You complete the user's task with tools that search and read their files.
Each turn, write exactly one JSON object and nothing else: a tool call such as
{{"tool": "search", "arguments": {{"query": "<words to look for>"}}}}
or, once the results tell you the answer,
{{"tool": "final_answer", "answer": "<the answer, citing passages like [1]>"}}
Tools (? marks an optional argument):
{tools}
Results number the passages they show, like [1]; cite them in the answer, like [1].
A task may need facts from several files: look up each one (a table row names a code, such as
a warehouse or SKU; search or read for that code next) before you answer.
Use only what the results say, never a guess; if they do not say, the answer says so."""


def signature(tool: Any) -> str:
    """'search(query, kind?, path?): Find passages ...' for the system prompt."""
    schema = tool.parameters
    required = set(schema.get("required", []))
    names = [n if n in required else f"{n}?" for n in schema.get("properties", {})]
    return f"- {tool.name}({', '.join(names)}): {tool.description}"


@dataclass(frozen=True)
class Limits:
    """When a run stops without an answer."""

    max_steps: int = 8
    time_limit_s: float = 300.0
    only: tuple[str, ...] = ()  # only these tools (and final_answer); () = every tool


@dataclass
class StepProgress:
    """Reported to ``on_step`` as each step starts ("thinking") and ends ("done")."""

    phase: str
    step: AgentStep | None = None


class AgentRunner:
    """Runs agent tasks over ``library`` with the models of ``catalog`` and ``tools``."""

    def __init__(self, library: Any, catalog: Any, tools: dict[str, Any]) -> None:
        self.library = library
        self.catalog = catalog
        self.tools = tools  # name -> tool (built-ins bind to each run's context)
        self._table: Any = None

    @property
    def location(self) -> Location:
        location: Location = self.library.location
        return location

    @property
    def table(self) -> Any:
        if self._table is None:
            db = self.library.store.db
            self._table = db.create_table(AGENT_RUNS, schema=RUNS_SCHEMA, exist_ok=True)
        return self._table

    @explaining
    def run(
        self,
        task: str,
        *,
        model: str | None = None,
        max_steps: int = 8,
        time_limit_s: float = 300.0,
        tools: list[str] | None = None,
        write_dir: str | None = None,
        on_step: Callable[[StepProgress], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> AgentRun:
        """Do ``task`` with the tools (all, or only those named in ``tools``); the run is
        logged, whatever way it ends."""
        if not task.strip():
            raise WorkbenchError("The task is empty. Say what the agent should find out.",
                                 "Bad task")  # fmt: skip
        unknown = sorted(set(tools or []) - set(self.tools))
        if unknown:
            raise WorkbenchError(f"No tool named {', '.join(unknown)}. Tools: "
                                 f"{', '.join(sorted(self.tools))}.", "Unknown tool")  # fmt: skip
        if write_dir and not Path(write_dir).expanduser().is_dir():
            raise WorkbenchError(f"--allow-write {write_dir}: no such folder. Create it first, "
                                 "or name a folder that exists.", "Bad folder")  # fmt: skip
        limits = Limits(max_steps, time_limit_s, tuple(tools or ()))
        with foreground("ask", signal_file(self.library.lock_file)):
            return self._run(task.strip(), model, limits, write_dir, on_step, should_stop)

    def _run(
        self,
        task: str,
        model_name: str | None,
        limits: Limits,
        write_dir: str | None,
        on_step: Callable[[StepProgress], None],
        should_stop: Callable[[], bool],
    ) -> AgentRun:
        started = time.perf_counter()
        chosen = self.catalog.model(model_name)
        backend = self.catalog.backend(chosen.backend)
        chat = self.catalog.loaded(chosen, self.library.settings)
        context = ToolContext(self.library, self._confinement(),
                              Path(write_dir).expanduser() if write_dir else None)  # fmt: skip
        tools = self._bound(context, limits.only)
        run = AgentRun(
            new_answer_id(), datetime.now().astimezone(), task, "", "failed", chosen.name,
            backend.name, self.library.store.version(),
            params={"max_steps": limits.max_steps, "time_limit_s": limits.time_limit_s,
                    "write_dir": str(context.write_dir or ""), "tools": sorted(tools)},
        )  # fmt: skip
        attributes = {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "workbench",
            "gen_ai.agent.id": run.id, "gen_ai.provider.name": getattr(chat, "provider", ""),
            "gen_ai.request.model": chosen.name, "gen_ai.data_source.id": genai.DATA_SOURCE,
        }  # fmt: skip
        with telemetry.span("invoke_agent workbench", attributes) as current:
            telemetry.content(
                current,
                "gen_ai.input.messages",
                genai.input_messages([{"role": "user", "content": task}]),
            )
            loop = StepLoop(chat, tools, task, limits, on_step, should_stop)
            run.stop_reason, answer = loop.run(run.steps, started)
            if answer:
                self._check(run, answer, context)
            run.total_ms = (time.perf_counter() - started) * 1000
            self._log(run)
            if current.is_recording():
                current.set_attributes(
                    {
                        "workbench.agent.stop_reason": run.stop_reason,
                        "workbench.agent.steps": len(run.steps),
                        "workbench.answer.groundedness": run.groundedness,
                    }
                )
            telemetry.content(current, "gen_ai.output.messages", [{
                "role": "assistant", "parts": [{"type": "text", "content": run.answer}],
            }])  # fmt: skip
        return run

    def _confinement(self) -> Confinement:
        settings = self.library.settings
        return Confinement(lambda: self.library.folders() + list(settings.allow_link_targets))

    def _bound(self, context: ToolContext, only: tuple[str, ...] = ()) -> dict[str, Any]:
        bound = {}
        for name, tool in self.tools.items():
            if (name == "write_note" and context.write_dir is None) or (only and name not in only):
                continue  # write_note exists only when the user allowed a folder to write in
            bound[name] = tool.bind(context) if hasattr(tool, "bind") else tool
        return bound

    def _check(self, run: AgentRun, answer: str, context: ToolContext) -> None:
        """Check the answer against what the tools showed, citing passages as [n]."""
        from workbench.core.answering.records import Citation

        embedder = self.library.embedder
        snippets = context.snippets
        passages = prepare_passages([s.text for s in snippets], embedder) if snippets else []
        sources = [Source(s.n, s.chunk, s.path, s.locator, s.text, 0.0, p)
                   for s, p in zip(snippets, passages, strict=True)]  # fmt: skip
        threshold = self.library.settings.support_threshold
        text, report, _ = check_and_cite(run.task, answer, sources, embedder, threshold)
        by_n = {s.n: s for s in sources}
        cited = sorted({n for sentence in report.sentences for n in sentence.cited})
        run.answer = text
        run.citations = [Citation(**by_n[n].as_citation()) for n in cited if n in by_n]
        run.groundedness, run.unsupported = round(report.groundedness, 4), report.unsupported

    def _log(self, run: AgentRun) -> None:
        row = {"id": run.id, "created": run.created.timestamp(), "task": run.task,
               "model": run.model, "stop_reason": run.stop_reason,
               "record": json.dumps(run.as_json(), ensure_ascii=False)}  # fmt: skip
        self.table.add(pa.Table.from_pylist([row], RUNS_SCHEMA))

    @explaining
    def get(self, run_id: str) -> AgentRun:
        """The logged run whose id is (or starts with) ``run_id``."""
        return AgentRun.from_json(
            record_by_id(self.table, run_id, "agent run", "workbench agent list")
        )

    @explaining
    def recent(self, limit: int = 20) -> list[AgentRun]:
        """Logged runs, newest first."""
        rows = self.table.search().select(["created", "record"]).limit(None).to_arrow().to_pylist()
        rows.sort(key=lambda row: row["created"], reverse=True)
        return [AgentRun.from_json(json.loads(row["record"])) for row in rows[:limit]]


class StepLoop:
    """The steps of one run: ask the model, check the step, run the tool, until it ends."""

    def __init__(
        self,
        chat: Any,
        tools: dict[str, Any],
        task: str,
        limits: Limits,
        on_step: Callable[[StepProgress], None],
        should_stop: Callable[[], bool],
    ) -> None:
        self.chat, self.tools, self.limits = chat, tools, limits
        self.on_step, self.should_stop = on_step, should_stop
        listing = "\n".join(signature(tool) for tool in tools.values())
        self.messages = [{"role": "system", "content": SYSTEM.format(tools=listing)},
                         {"role": "user", "content": f"Task: {task}"}]  # fmt: skip
        self.params = ChatParams(max_tokens=STEP_TOKENS, temperature=0.0, repeat_penalty=1.1,
                                 json_schema=step_schema(list(tools.values())))  # fmt: skip
        self.seen: set[str] = set()
        self.warned = False

    def run(self, steps: list[AgentStep], started: float) -> tuple[str, str]:
        """(stop reason, final answer or "")."""
        for n in range(1, self.limits.max_steps + 1):
            if self.should_stop():
                return "cancelled", ""
            if time.perf_counter() - started > self.limits.time_limit_s:
                return "time_limit", ""
            self.on_step(StepProgress("thinking"))
            step, call, stop = self.step(n)
            steps.append(step)
            self.on_step(StepProgress("done", step))
            if stop:
                return stop, ""
            if call is not None and call.final:
                return "answered", call.arguments["answer"]
        return "step_limit", ""

    def step(self, n: int) -> tuple[AgentStep, Call | None, str]:
        """One step: (its record, the call when it parsed, a stop reason or "")."""
        began = time.perf_counter()
        self._fit()
        completion = self.chat.chat(self.messages, self.params, should_stop=self.should_stop)
        if completion.finish_reason == "cancelled":
            return self._record(n, "", {}, "", "cancelled", began, completion), None, "cancelled"
        call: Call | None = None
        try:
            call = parse_step(completion.text, completion.finish_reason, self.tools)
        except StepError as exc:
            result, error = f"Error: {exc}", "invalid"
        else:
            result, error = self._do(call, n)
        self.messages += [{"role": "assistant", "content": completion.text.strip()},
                          {"role": "user", "content": result}]  # fmt: skip
        tool, arguments = (call.tool, call.arguments) if call else ("", {})
        telemetry.AGENT_STEPS.add(1, {"gen_ai.tool.name": tool or "(invalid)",
                                      "workbench.error": error or "none"})  # fmt: skip
        step = self._record(n, tool, arguments, result, error, began, completion)
        step.valid = call is not None
        return step, call, "repeated_call" if error == "repeated_again" else ""

    def _do(self, call: Call, n: int) -> tuple[str, str]:
        """Run ``call``: (what the model is told, an error kind or "")."""
        if call.final:
            return call.arguments["answer"], ""
        if call.key() in self.seen:
            if self.warned:
                return "Error: the same call again.", "repeated_again"
            self.warned = True
            return ("Error: you made this exact call already; its result is above. Use it, "
                    "try something else, or give the final_answer."), "repeated"  # fmt: skip
        self.seen.add(call.key())
        with genai.tool_call(call.tool, f"step-{n}", call.arguments) as span:
            result, error = self._call(call)
            if error and span.is_recording():
                span.set_attribute("error.type", error)
            telemetry.content(span, "gen_ai.tool.call.result", result)
        return result, error

    def _call(self, call: Call) -> tuple[str, str]:
        """The tool's result for ``call`` (an error kind when it refused or failed)."""
        try:
            return f"Result of {call.tool}:\n{self.tools[call.tool].run(call.arguments)}", ""
        except WorkbenchError as exc:  # ToolError: a refused path, a bad expression...
            return f"Error: {exc.message}", "refused" if isinstance(exc, ToolError) else "tool"
        except Exception as exc:  # noqa: BLE001 (a plugin's tool failing must not end the run)
            return f"Error: the tool {call.tool} failed ({type(exc).__name__}).", "tool"

    def _record(
        self, n: int, tool: str, arguments: dict[str, Any], result: str, error: str,
        began: float, completion: Any,
    ) -> AgentStep:  # fmt: skip
        return AgentStep(
            n, tool, arguments, clipped(result, 400),
            hashlib.sha256(result.encode()).hexdigest(), len(result), True, error,
            completion.prompt_tokens, completion.completion_tokens,
            round((time.perf_counter() - began) * 1000, 1),
        )  # fmt: skip

    def _fit(self) -> None:
        """Shorten the oldest tool results while the conversation outgrows the window."""
        room = self.chat.context_size - STEP_TOKENS - 16
        for message in self.messages[2:]:
            if self.chat.prompt_tokens(self.messages) <= room:
                return
            if message["role"] == "user" and not message["content"].startswith("(earlier"):
                message["content"] = f"(earlier result, {len(message['content'])} chars, left out)"
