"""Agent steps: the union schema the model decodes under, and checking a step in Python."""

from __future__ import annotations

import json
import re

import pytest

from workbench.backends.llama_cpp import grammar_for
from workbench.core.agents.steps import FINAL, StepError, parse_step, step_schema
from workbench.core.agents.tools import BUILTIN_TOOLS, ToolError, calculate

TOOLS = {tool.name: tool for tool in BUILTIN_TOOLS}


def test_the_union_has_one_branch_per_tool_and_no_limits() -> None:
    schema = step_schema(BUILTIN_TOOLS)
    names = [branch["properties"]["tool"]["const"] for branch in schema["oneOf"]]
    assert names == [*TOOLS, FINAL]
    for branch in schema["oneOf"]:
        assert branch["additionalProperties"] is False and list(branch["properties"])[0] == "tool"
        arguments = branch["properties"].get("arguments")
        if arguments is not None:
            assert arguments["additionalProperties"] is False
    text = json.dumps(schema)
    assert "minimum" not in text and "pattern" not in text and '"maxLength": 200' not in text
    assert set(re.findall(r'"maxLength": (\d+)', text)) == {"300", "600"}  # runaway bounds only
    assert grammar_for(schema) is not None  # llama.cpp compiles it


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        ('{"tool": "search", "arguments": {"query": "x"', "length", "cut off"),
        ("not json", "stop", "not one JSON object"),
        ('{"tool": "shell", "arguments": {}}', "stop", "no tool 'shell'"),
        ('{"tool": "search", "arguments": {"query": ""}}', "stop", "Bad arguments"),
        ('{"tool": "search", "arguments": {"query": "x", "limit": 3}}', "stop", "Bad arguments"),
        ('{"tool": "read", "arguments": {"path": "a", "start_line": 0}}', "stop", "start_line"),
        ('{"tool": "final_answer", "answer": "  "}', "stop", "needs"),
    ],
)
def test_bad_steps_are_explained(text: str, reason: str, message: str) -> None:
    with pytest.raises(StepError, match=message):
        parse_step(text, reason, TOOLS)


def test_good_steps_parse() -> None:
    call = parse_step('{"tool": "search", "arguments": {"query": "backup"}}', "stop", TOOLS)
    assert (call.tool, call.arguments, call.final) == ("search", {"query": "backup"}, False)
    final = parse_step('{"tool": "final_answer", "answer": "Lyon [2]."}', "stop", TOOLS)
    assert final.final and final.arguments == {"answer": "Lyon [2]."}


def test_calculate_is_arithmetic_only() -> None:
    assert calculate("(14 + 40) * 3 / 2") == "(14 + 40) * 3 / 2 = 81"
    assert calculate("1,200 + 0.5") == "1,200 + 0.5 = 1200.5"
    for hostile in ("__import__('os')", "open('/etc/passwd')", "9 ** 9 ** 9", "x + 1", "1 / 0"):
        with pytest.raises(ToolError):
            calculate(hostile)
