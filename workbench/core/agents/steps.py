"""What one agent step may be, and checking that a step is one.

Each step the model writes is a single JSON object: a call ``{"tool": NAME, "arguments":
{...}}`` of one of the tools, or ``{"tool": "final_answer", "answer": "..."}``. The union
of those shapes (one branch per tool: its name as a const, its arguments' schema with no
other properties allowed) is what the model decodes under (a llama.cpp grammar compiled from
it), so a step is well-formed by construction, and every string in it is bounded so a step
always ends within its token budget. The tools' own limits (string lengths, number ranges,
patterns) are left out of the grammar and checked here, in Python, against the tool's full
schema; a step that was cut off anyway (finish reason "length") is never parsed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema

from workbench.core.protocols import Tool

FINAL = "final_answer"
# The grammar bounds every string so a step always ends inside its token budget (a small
# model can loop inside a string forever); the tools' own, tighter limits are checked in Python.
GRAMMAR_STRING_CHARS = 300
ANSWER_CHARS = 600
# Left out of the grammar, checked in Python: the model cannot count characters or range.
LIMIT_KEYWORDS = frozenset({
    "maxLength", "minLength", "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum",
    "maxItems", "minItems", "pattern", "format", "multipleOf",
})  # fmt: skip


class StepError(ValueError):
    """A step that cannot be run; ``message`` is what the model is told."""


@dataclass(frozen=True)
class Call:
    """One parsed step: a tool and its arguments, or the final answer (``tool == FINAL``)."""

    tool: str
    arguments: dict[str, Any]

    @property
    def final(self) -> bool:
        return self.tool == FINAL

    def key(self) -> str:
        """The call as one string, to spot the same call made again."""
        return json.dumps([self.tool, self.arguments], sort_keys=True)


def step_schema(tools: Sequence[Tool]) -> dict[str, Any]:
    """The union schema of every possible step (for the grammar: limits left out)."""
    branches: list[dict[str, Any]] = [
        _object({"tool": {"const": tool.name}, "arguments": grammar_schema(tool.parameters)})
        for tool in tools
    ]
    answer = {"type": "string", "maxLength": ANSWER_CHARS}
    branches.append(_object({"tool": {"const": FINAL}, "answer": answer}))
    return {"oneOf": branches}


def grammar_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without the limits a grammar should not carry, and with no object allowing
    properties it does not name."""
    pruned = {k: copy.deepcopy(v) for k, v in schema.items() if k not in LIMIT_KEYWORDS}
    if pruned.get("type") == "string" and "enum" not in pruned:
        pruned["maxLength"] = GRAMMAR_STRING_CHARS  # a runaway bound, not the tool's limit
    if pruned.get("type") == "object":
        pruned["additionalProperties"] = False
        pruned["properties"] = {
            name: grammar_schema(sub) for name, sub in pruned.get("properties", {}).items()
        }
    if isinstance(pruned.get("items"), dict):
        pruned["items"] = grammar_schema(pruned["items"])
    return pruned


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}  # fmt: skip


def parse_step(text: str, finish_reason: str, tools: dict[str, Tool]) -> Call:
    """The call ``text`` makes, checked against the tool's full schema; ``StepError`` when it
    was cut off, is not one JSON object of a known shape, or breaks the tool's limits."""
    if finish_reason == "length":
        raise StepError(
            "Your last step was cut off before it ended. Write a shorter step: one JSON object."
        )
    try:
        data = json.loads(text)
    except ValueError:
        raise StepError("Your last step was not one JSON object. Write exactly one.") from None
    if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
        raise StepError('A step is {"tool": NAME, "arguments": {...}} or a final_answer.')
    name = data["tool"]
    if name == FINAL:
        answer = data.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            raise StepError('final_answer needs "answer": the answer, in words.')
        return Call(FINAL, {"answer": answer.strip()})
    tool = tools.get(name)
    if tool is None:
        raise StepError(f"There is no tool '{name}'. Use one of: {', '.join(sorted(tools))}.")
    arguments = data.get("arguments")
    if not isinstance(arguments, dict):
        raise StepError(f"'{name}' needs \"arguments\": an object.")
    problems = sorted(
        jsonschema.Draft202012Validator(tool.parameters).iter_errors(arguments),
        key=lambda error: list(error.path),
    )
    if problems:
        where = ".".join(map(str, problems[0].path)) or "arguments"
        raise StepError(f"Bad arguments for '{name}': {where}: {problems[0].message}. Fix them.")
    return Call(name, arguments)
