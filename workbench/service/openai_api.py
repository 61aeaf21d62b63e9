"""`workbench serve`: an OpenAI-compatible HTTP endpoint on 127.0.0.1 (FastAPI + uvicorn).

- ``GET /v1/models``: ``workbench`` and every chat model Workbench can run.
- ``POST /v1/chat/completions`` (streamed or not): model ``workbench`` answers the last user
  message from the library with checked citations, listed after the answer in the message
  ("Sources: [1] path (lines 3-5)") and as structured fields (``workbench``: the answer's id,
  checked text, citations, groundedness, unsupported sentences, declined). Any other model name
  is that chat model, answering the conversation without retrieval.
- ``--token-env NAME``: every request needs ``Authorization: Bearer <value of $NAME>``.

Model calls run one at a time on a worker thread (one model, one context); a streamed answer's
tokens go out as the model makes them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from workbench.errors import WorkbenchError
from workbench.presentation import format_locator, unexpected_message

if TYPE_CHECKING:
    from workbench.workbench import Workbench

LIBRARY_MODEL = "workbench"
MAX_QUESTION = 4000  # characters: a question, not a document
ROLES = {"system", "user", "assistant"}  # what every chat template knows


class Message(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)


def text_of(message: Message) -> str:
    """A message's text (an array of parts keeps its text parts)."""
    if isinstance(message.content, list):
        return "".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
    return message.content or ""


def error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    """An error in OpenAI's shape, so its clients raise their usual exceptions."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def sources_text(citations: list[dict[str, Any]]) -> str:
    """The checked citations as text after the answer: "Sources:" and one line each."""
    if not citations:
        return ""
    lines = [f"[{c['n']}] {c['path']}" + (f" ({where})" if (where := format_locator(
        c.get("locator") or {})) else "") for c in citations]  # fmt: skip
    return "\n\nSources:\n" + "\n".join(lines)


def structured(record: dict[str, Any]) -> dict[str, Any]:
    """The answer's checks as fields beside the message."""
    keys = ("id", "answer", "citations", "groundedness", "unsupported", "declined",
            "declined_because", "model", "timings")  # fmt: skip
    return {key: record.get(key) for key in keys}


def build_app(workbench: Workbench, *, token: str | None = None) -> FastAPI:
    app = FastAPI(title="Workbench", docs_url=None, redoc_url=None, openapi_url=None)
    model_lock = threading.Lock()

    @app.middleware("http")
    async def bearer(request: Request, call_next: Callable[[Request], Any]) -> Any:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "Missing or wrong API key: send `Authorization: Bearer "
                                  "<key>` with the key in the server's --token-env variable.",
                             "invalid_request_error", "invalid_api_key")  # fmt: skip
        return await call_next(request)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        names = await asyncio.to_thread(lambda: [m.name for m in workbench.models()])
        now = int(time.time())
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": now, "owned_by": "workbench"}
            for name in [LIBRARY_MODEL, *names]
        ]}  # fmt: skip

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(body: ChatRequest) -> Any:
        asked = [text_of(m) for m in body.messages if m.role == "user"]
        if not asked or not asked[-1].strip():
            return error(400, "The last user message is empty: nothing to answer.",
                         "invalid_request_error")  # fmt: skip
        if body.model == LIBRARY_MODEL and len(asked[-1]) > MAX_QUESTION:
            return error(400, f"The question is {len(asked[-1]):,} characters; the library "
                         f"answers questions of up to {MAX_QUESTION:,}. Ask something shorter, "
                         "or send the text to a chat model instead.",
                         "invalid_request_error")  # fmt: skip
        if body.model != LIBRARY_MODEL:
            # Only models Workbench lists: a client never names a file for the server to open.
            try:
                await asyncio.to_thread(workbench.listed_model, body.model)
            except WorkbenchError as exc:
                message = f"{exc.message} Or use the model `{LIBRARY_MODEL}` to ask the library."
                return error(404, message, "invalid_request_error", "model_not_found")
        call = Call(workbench, body, model_lock, asked[-1])
        if body.stream:
            return StreamingResponse(call.events(), media_type="text/event-stream")
        try:
            return await asyncio.to_thread(call.complete)
        except WorkbenchError as exc:
            return error(422 if exc.title.startswith(("Bad", "Nothing")) else 500,
                         f"{exc.title}: {exc.message}", "invalid_request_error")  # fmt: skip
        except Exception as exc:  # a bug: a message and a saved report, not a traceback
            return error(500, unexpected_message(exc), "server_error")

    return app


class Call:
    """One chat completion: the library's answer (model ``workbench``) or a plain chat."""

    def __init__(
        self, workbench: Workbench, body: ChatRequest, lock: threading.Lock, question: str
    ) -> None:
        self.workbench, self.body, self.lock, self.question = workbench, body, lock, question
        self.id = f"chatcmpl-{secrets.token_hex(8)}"
        self.created = int(time.time())

    def _run(self, on_token: Callable[[str], None]) -> tuple[str, str, dict[str, Any], Any]:
        """(text, finish reason, usage, the answer's structured fields or None)."""
        body = self.body
        with self.lock:
            if body.model == LIBRARY_MODEL:
                record = self.workbench.ask(self.question, on_token=on_token).as_json()
                usage = record["usage"]
                text = record["answer"] + sources_text(record["citations"])
                return text, "stop", usage, structured(record)
            messages = [
                {"role": m.role if m.role in ROLES else "user", "content": text_of(m)}
                for m in body.messages
            ]  # a tool's or developer's turn reads as user's
            done = self.workbench.chat(
                messages, model=body.model, temperature=body.temperature,
                max_tokens=body.max_completion_tokens or body.max_tokens, on_token=on_token,
            )  # fmt: skip
            usage = {"prompt_tokens": done.prompt_tokens,
                     "completion_tokens": done.completion_tokens}  # fmt: skip
            return done.text, done.finish_reason, usage, None

    def complete(self) -> dict[str, Any]:
        text, finish, usage, fields = self._run(lambda piece: None)
        answer: dict[str, Any] = {
            "id": self.id, "object": "chat.completion", "created": self.created,
            "model": self.body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish}],
            "usage": _usage(usage),
        }  # fmt: skip
        if fields is not None:
            answer["workbench"] = fields
        return answer

    async def events(self) -> AsyncIterator[str]:
        """Server-sent events: the first chunk names the role, then the model's tokens as they
        come; for the library's answer the checked sources follow, and the last chunk carries
        the answer's structured fields."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def token(piece: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("token", piece))

        def work() -> None:
            try:
                result = self._run(token)
                loop.call_soon_threadsafe(queue.put_nowait, ("done", result))
            except Exception as exc:  # noqa: BLE001 (sent to the client as an error event)
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        yield self._chunk({"role": "assistant", "content": ""})
        worker = asyncio.create_task(asyncio.to_thread(work))
        streamed = []
        while True:
            kind, value = await queue.get()
            if kind == "token":
                streamed.append(value)
                yield self._chunk({"content": value})
            elif kind == "error":
                message = (f"{value.title}: {value.message}" if isinstance(value, WorkbenchError)
                           else unexpected_message(value))  # fmt: skip
                yield f"data: {json.dumps({'error': {'message': message}})}\n\n"
                break
            else:
                text, finish, usage, fields = value
                # Nothing streamed (declined before the model wrote): the text is the answer;
                # else the model's words went out as they came and the checked sources follow.
                tail = text if not streamed else sources_text(fields["citations"]) if fields else ""
                if tail:
                    yield self._chunk({"content": tail})
                yield self._chunk({}, finish, usage, fields)
                break
        await worker
        yield "data: [DONE]\n\n"

    def _chunk(
        self,
        delta: dict[str, Any],
        finish: str | None = None,
        usage: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> str:
        chunk: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.body.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }  # fmt: skip
        if usage is not None:
            chunk["usage"] = _usage(usage)
        if fields is not None:
            chunk["workbench"] = fields
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def _usage(usage: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip


def serve(app: FastAPI, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until Ctrl-C (never on other addresses)."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
