"""OpenTelemetry spans and metrics for what Workbench does: syncs, extraction, OCR, LanceDB
writes, searches, model calls, answers, agent steps and remote calls.

Core code records through the OpenTelemetry API only. Until a front end configures the SDK
(``export.configure``: OTLP over HTTP from the standard ``OTEL_EXPORTER_OTLP_*`` variables, or
a Prometheus ``/metrics`` endpoint) the API's tracer and meter are no-ops, so telemetry costs
nothing by default. Model calls, retrievals and tool calls follow the GenAI semantic
conventions (``gen_ai.*``, see ``genai``); the rest are ``workbench.*`` spans and metrics.

Prompts, answers, queries, document text and file paths are recorded only when the user opts
in with the standard ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from opentelemetry import context, metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from workbench import __version__

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
SCOPE = "workbench"
T = TypeVar("T")

tracer = trace.get_tracer(SCOPE, __version__)
meter = metrics.get_meter(SCOPE, __version__)


def capturing() -> bool:
    """Whether message content (prompts, answers, text, paths) may be recorded."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"


@contextlib.contextmanager
def span(
    name: str, attributes: dict[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """A span around the block, current inside it. An exception marks it failed with its
    ``error.type`` (and is re-raised); its message, which may name a file or quote a query,
    is recorded only with content capture on."""
    with tracer.start_as_current_span(
        name, kind=kind, attributes=attributes, record_exception=False,
        set_status_on_exception=False,
    ) as current:  # fmt: skip
        try:
            yield current
        except BaseException as exc:
            if current.is_recording():
                current.set_attribute("error.type", type(exc).__qualname__)
                current.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
                if capturing():
                    current.record_exception(exc)
            raise


def content(current: Span, key: str, value: Any) -> None:
    """Set ``key`` to ``value`` (JSON unless a string) only when content capture is on.
    Text that is not valid UTF-8 (a file name's stray bytes) is escaped, so export never fails
    on it."""
    if current.is_recording() and capturing():
        text = value if isinstance(value, str) else json.dumps(value)
        current.set_attribute(key, text.encode("utf-8", "backslashreplace").decode("utf-8"))


def in_context(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` run under the caller's trace context (for a thread pool's workers)."""
    captured = context.get_current()

    def run(*args: Any, **kwargs: Any) -> T:
        token = context.attach(captured)
        try:
            return function(*args, **kwargs)
        finally:
            context.detach(token)

    return run


class Stopwatch:
    """Seconds since it was made (``perf_counter``), for a histogram."""

    def __init__(self) -> None:
        self.began = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.began


def _histogram(name: str, unit: str, description: str, buckets: list[float]) -> Any:
    return meter.create_histogram(
        name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
    )


SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]
RATES = [1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0]
FRACTIONS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]

# -- syncs ---------------------------------------------------------------------------------
SYNC_FILES = meter.create_counter(
    "workbench.sync.files", unit="{file}",
    description="Files syncs looked at, by outcome: new, changed, unchanged, renamed, deleted, "
    "failed, skipped",
)  # fmt: skip
SYNC_CHUNKS = meter.create_counter(
    "workbench.sync.chunks", unit="{chunk}",
    description="Chunks syncs embedded, reused (cache or rename) and deleted",
)  # fmt: skip
SYNC_DURATION = _histogram("workbench.sync.duration", "s", "How long each sync took", SECONDS)
EXTRACT_DURATION = _histogram(
    "workbench.extraction.duration", "s", "Extracting and chunking one file, by kind", SECONDS
)
OCR_PAGES = meter.create_counter(
    "workbench.ocr.pages", unit="{page}", description="Pages and images read by OCR, by engine"
)
OCR_DURATION = _histogram("workbench.ocr.page.duration", "s", "OCR of one page", SECONDS)
WRITE_DURATION = _histogram(
    "workbench.lancedb.write.duration", "s", "LanceDB writes, by table and operation", SECONDS
)
# -- searches and answers ------------------------------------------------------------------
SEARCH_DURATION = _histogram("workbench.search.duration", "s", "Searches, by mode", SECONDS)
ASK_FIRST_TOKEN = _histogram(
    "workbench.ask.time_to_first_token", "s",
    "From the question to the first answer token (retrieval, loading and the check included)",
    SECONDS,
)  # fmt: skip
ANSWERS = meter.create_counter(
    "workbench.answers", unit="{answer}",
    description="Answers, by outcome (answered, declined) and reason for declining",
)  # fmt: skip
GROUNDEDNESS = _histogram(
    "workbench.answer.groundedness", "1", "Share of an answer's sentences its sources support",
    FRACTIONS,
)  # fmt: skip
SENTENCES = meter.create_counter(
    "workbench.answer.sentences", unit="{sentence}",
    description="Answer sentences checked against their sources, by verdict",
)  # fmt: skip
# -- model calls (GenAI semantic conventions) ----------------------------------------------
OPERATION_DURATION = _histogram(
    "gen_ai.client.operation.duration", "s", "GenAI operation duration", SECONDS
)
TOKEN_USAGE = meter.create_histogram(
    "gen_ai.client.token.usage", unit="{token}", description="Tokens used, input and output",
    explicit_bucket_boundaries_advisory=[
        1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
    ],
)  # fmt: skip
FIRST_TOKEN = _histogram(
    "gen_ai.server.time_to_first_token", "s", "From a model call to its first token", SECONDS
)
DECODE_RATE = _histogram(
    "workbench.chat.decode.rate", "{token}/s", "Decode speed of each model call", RATES
)
# -- remote backends and agents ------------------------------------------------------------
RETRIES = meter.create_counter(
    "workbench.remote.retries", unit="{retry}", description="Remote requests retried, by backend"
)
FAILOVERS = meter.create_counter(
    "workbench.remote.failovers", unit="{failover}",
    description="Answers moved to a fallback model after a remote backend failed",
)  # fmt: skip
AGENT_STEPS = meter.create_counter(
    "workbench.agent.steps", unit="{step}", description="Agent steps, by tool and error kind"
)
