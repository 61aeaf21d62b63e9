"""Workbench as a service, driven by real clients: the `mcp` SDK's own client over stdio
against `workbench mcp` (and raw JSON-RPC lines, to see that stdout carries only protocol
messages), and the official `openai` client against `workbench serve` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from workbench.core.answering.models import BUNDLED_NAME

EXE = str(Path(sys.executable).with_name("workbench"))
QUESTION = "When does the train to Lisbon leave?"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A data home with a small indexed library (and a file outside it), as an environment."""
    root = tmp_path_factory.mktemp("service")
    library = root / "notes"
    library.mkdir()
    (library / "travel.md").write_text(
        "# Travel\n\nThe train to Lisbon leaves at 07:40 from platform 3.\n"
    )
    (library / "stock.csv").write_text("sku,name,warehouse,quantity\nA-1,Kettle,Porto,12\n")
    (root / "secret.txt").write_text("the launch code is 0000\n")
    (library / "escape.txt").symlink_to(root / "secret.txt")  # a link out of the library
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"WORKBENCH_HOME": str(root / "home"), "WORKBENCH_CHAT_MODEL": BUNDLED_NAME,
            "WORKBENCH_SCAN_MODEL_CACHES": "false",
            "WORKBENCH_MAX_ANSWER_TOKENS": "48"}  # fmt: skip
    for args in (["add", str(library)], ["ingest"]):
        subprocess.run([EXE, *args], env=env, check=True, capture_output=True, timeout=180)
    yield env | {"LIBRARY": str(library), "OUTSIDE": str(root / "secret.txt")}


# -- MCP -----------------------------------------------------------------------------------
def mcp_call(env: dict[str, str], calls: list[tuple[str, dict[str, Any]]],
             *args: str) -> tuple[list[Any], list[Any]]:  # fmt: skip
    """(tools listed, results of ``calls``) from one `workbench mcp` session over stdio."""

    async def session() -> tuple[list[Any], list[Any]]:
        server = StdioServerParameters(command=EXE, args=["mcp", *args], env=env)
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
            results = [await client.call_tool(name, arguments) for name, arguments in calls]
            return tools, results

    return anyio.run(session)


def test_mcp_tools_over_stdio_with_the_sdk_client(home: dict[str, str]) -> None:
    library = home["LIBRARY"]
    tools, results = mcp_call(home, [
        ("search", {"query": "train to Lisbon", "k": 3}),
        ("ask", {"question": QUESTION}),
        ("read", {"path": f"{library}/travel.md", "start_line": 1, "end_line": 3}),
        ("list_files", {}),
        ("status", {}),
        ("read", {"path": home["OUTSIDE"]}),
        ("read", {"path": f"{library}/escape.txt"}),
        ("read", {"path": f"{library}/../secret.txt"}),
        ("search", {"query": "x", "mode": "sideways"}),
        ("ask", {"question": "   "}),
        ("ingest", {}),
        ("ask", {"question": QUESTION, "model": home["OUTSIDE"]}),
    ])  # fmt: skip
    names = {tool.name for tool in tools}
    assert names == {"search", "ask", "read", "list_files", "status", "agent"}  # no ingest
    for tool in tools:
        assert tool.input_schema["type"] == "object" and tool.output_schema is not None
        assert tool.annotations is not None and tool.annotations.read_only_hint
    search, ask, read, listed, status, *refused = results
    assert not search.is_error
    hits = search.structured_content["results"]
    assert hits and hits[0]["path"].endswith("travel.md") and "07:40" in hits[0]["text"]
    assert not ask.is_error
    answer = ask.structured_content
    assert set(answer) >= {"id", "answer", "citations", "groundedness", "declined"}
    if not answer["declined"]:
        assert answer["citations"] and answer["citations"][0]["path"].endswith("travel.md")
    assert read.structured_content["passages"][0]["text"].count("07:40") == 1
    paths = {f["path"] for f in listed.structured_content["files"]}
    assert {f"{library}/travel.md", f"{library}/stock.csv"} <= paths
    assert status.structured_content["files"] >= 2 and status.structured_content["folders"]
    outside, link, dotdot, bad_mode, empty, ingest, model_path = refused
    assert model_path.is_error and "No model named" in model_path.content[0].text
    for result in (outside, link, dotdot):
        assert result.is_error
        message = result.content[0].text
        assert "outside" in message and "0000" not in message, message
    assert bad_mode.is_error and "sideways" in bad_mode.content[0].text  # the schema said no
    assert empty.is_error and "question is empty" in empty.content[0].text
    assert ingest.is_error and "ingest" in ingest.content[0].text  # no such tool by default


def test_mcp_over_streamable_http(home: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen([EXE, "mcp", "--http", str(port)], env=home,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip

    async def session() -> tuple[set[str], Any]:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            return tools, await client.call_tool("search", {"query": "Lisbon", "k": 1})

    try:
        wait_for_port(port, process)
        tools, search = anyio.run(session)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "ask" in tools and "ingest" not in tools
    assert search.structured_content["results"][0]["path"].endswith("travel.md")


def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (the server has started)."""
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def test_mcp_allow_write_adds_ingest(home: dict[str, str]) -> None:
    (Path(home["LIBRARY"]) / "more.md").write_text("# More\n\nThe ferry leaves at noon.\n")
    tools, (ingest,) = mcp_call(home, [("ingest", {})], "--allow-write")
    assert "ingest" in {tool.name for tool in tools}
    assert not ingest.is_error and ingest.structured_content["files"]["new"] == 1


def test_mcp_stdout_carries_only_protocol_messages(home: dict[str, str]) -> None:
    """Raw JSON-RPC over the pipes: every stdout line is a JSON-RPC message, even while the
    model loads and answers (llama.cpp and libraries write to stderr instead)."""
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "ask", "arguments": {"question": QUESTION}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "read", "arguments": {"path": "/etc/passwd"}}},
    ]  # fmt: skip
    process = subprocess.Popen([EXE, "mcp"], env=home, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    lines = []
    for request in requests:
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        if "id" in request:
            lines.append(process.stdout.readline())
    rest, _ = process.communicate(timeout=60)  # closes stdin: the server ends
    lines += rest.splitlines()
    messages = [json.loads(line) for line in lines if line.strip()]  # raises on anything else
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    by_id = {m["id"]: m for m in messages if "id" in m}
    assert not by_id[2]["result"].get("isError")
    assert by_id[3]["result"]["isError"] and "root:" not in json.dumps(by_id[3])


# -- OpenAI-compatible HTTP ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(home: dict[str, str]) -> Iterator[str]:
    port = free_port()
    env = home | {"WB_SERVE_KEY": "sk-test-serve-123"}
    process = subprocess.Popen([EXE, "serve", "--port", str(port), "--token-env", "WB_SERVE_KEY"],
                               env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_openai_client_gets_cited_answers(served: str, home: dict[str, str]) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=served, api_key="sk-test-serve-123")
    assert {"workbench", BUNDLED_NAME} <= {model.id for model in client.models.list()}
    reply = client.chat.completions.create(
        model="workbench", messages=[{"role": "user", "content": QUESTION}]
    )
    fields = reply.model_extra["workbench"]
    text = reply.choices[0].message.content
    assert fields["id"] and set(fields) >= {"citations", "groundedness", "unsupported"}
    if not fields["declined"]:
        assert text.startswith(fields["answer"]) and "Sources:\n[1] " in text
        assert fields["citations"][0]["path"].endswith("travel.md")
        assert "travel.md" in text
    stream = client.chat.completions.create(
        model="workbench", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["workbench"]["citations"] == fields["citations"]  # same answer
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    if not fields["declined"]:
        assert streamed.endswith(text[len(fields["answer"]):])  # the checked sources last

    plain = client.chat.completions.create(
        model=BUNDLED_NAME, max_tokens=8,
        messages=[{"role": "developer", "content": "Be brief."},
                  {"role": "user", "content": "Say hello."}],
    )  # fmt: skip
    assert plain.choices[0].message.content and "workbench" not in (plain.model_extra or {})


def test_a_wrong_or_missing_key_gets_401(served: str) -> None:
    from openai import AuthenticationError, OpenAI

    for key in ("sk-wrong", ""):
        client = OpenAI(base_url=served, api_key=key or "x", max_retries=0)
        if not key:
            client = OpenAI(base_url=served, api_key="x", max_retries=0,
                            default_headers={"Authorization": ""})  # fmt: skip
        with pytest.raises(AuthenticationError) as caught:
            client.models.list()
        assert caught.value.status_code == 401
    unknown = OpenAI(base_url=served, api_key="sk-test-serve-123", max_retries=0)
    from openai import BadRequestError, NotFoundError

    long_question = [{"role": "user", "content": "x" * 20_000}]
    with pytest.raises(BadRequestError, match="up to 4,000"):
        unknown.chat.completions.create(model="workbench", messages=long_question)

    with pytest.raises(NotFoundError, match="No model named"):  # never a path it would open
        unknown.chat.completions.create(model="/etc/passwd",
                                        messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    with pytest.raises(NotFoundError, match="workbench"):
        unknown.chat.completions.create(model="no-such-model",
                                        messages=[{"role": "user", "content": "hi"}])  # fmt: skip
