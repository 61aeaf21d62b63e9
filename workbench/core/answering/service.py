"""The answers service: a question in, a checked answer out, every answer logged."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from workbench.backends.remote.receipts import collecting
from workbench.backends.remote.resilience import RemoteError
from workbench.backends.remote.transport import OfflineRefused
from workbench.core import telemetry
from workbench.core.answering import answerability, replay
from workbench.core.answering.answers import AnswerLog, build_record, new_answer_id
from workbench.core.answering.catalog import ModelCatalog
from workbench.core.answering.chat import ChatParams
from workbench.core.answering.models import ModelInfo
from workbench.core.answering.rag import (
    Answer,
    AnswerPolicy,
    AskProgress,
    Retrieval,
    answer_question,
    retrieve,
)
from workbench.core.answering.records import AnswerRecord, AnswerSummary
from workbench.core.answering.replay import ReplayResult
from workbench.core.foreground import foreground, signal_file
from workbench.core.index.failures import explaining
from workbench.core.index.library import Library
from workbench.core.index.location import Location
from workbench.core.index.store import Store
from workbench.core.telemetry import genai
from workbench.errors import WorkbenchError


class Answerer:
    """Answers questions from ``library`` with the models of ``catalog``."""

    def __init__(self, library: Library, catalog: ModelCatalog) -> None:
        self.library = library
        self.catalog = catalog
        self._log: tuple[Any, AnswerLog] | None = None
        self._window_vectors: dict[str, np.ndarray] = {}  # grounding windows, by text

    @property
    def location(self) -> Location:
        return self.library.location

    @property
    def log(self) -> AnswerLog:
        """The answer log in the library's current index (a repair replaces the index)."""
        store = self.library.store
        if self._log is None or self._log[0] is not store:
            self._log = (store, AnswerLog(store))
        return self._log[1]

    @explaining
    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        model: str | None = None,
        on_token: Callable[[str], None] = lambda text: None,
        on_progress: Callable[[AskProgress], None] = lambda progress: None,
        should_stop: Callable[[], bool] = lambda: False,
        as_of: str | None = None,
    ) -> AnswerRecord:
        """Answer ``question`` from the library with checked citations; the answer is logged.

        Declines, without running the model, when nothing retrieved is relevant enough. Runs
        as foreground work: syncs (here and in `workbench watch`) pause until it is done.
        With ``as_of`` (a version, tag or ISO time) the answer is made from the library as it
        was then, and the record says so.
        """
        with telemetry.span("ask", {"gen_ai.data_source.id": genai.DATA_SOURCE}) as current:
            telemetry.content(current, "workbench.question", question)
            past = self.library.resolve(as_of) if as_of else None
            with foreground("ask", signal_file(self.library.lock_file)):
                record = self._answer(
                    question, k=k, model=model, on_token=on_token, on_progress=on_progress,
                    should_stop=should_stop, store=self.library.reading(past),
                )  # fmt: skip
            record.as_of = past.as_json() if past else None
            self.log.add(record)
            observed(current, record)
        return record

    def _answer(
        self,
        question: str,
        *,
        k: int | None,
        model: str | None,
        on_token: Callable[[str], None],
        on_progress: Callable[[AskProgress], None],
        should_stop: Callable[[], bool],
        store: Store,
    ) -> AnswerRecord:
        """The answer from ``store`` (the live index or a past one); not logged yet."""
        started = time.perf_counter()
        if not question.strip():
            raise WorkbenchError("The question is empty. Type a question to ask.", "Bad question")
        if store.chunk_count() == 0:
            raise WorkbenchError(
                "The library is empty, so there is nothing to answer from. Add a folder with "
                "`workbench add PATH` and run `workbench ingest`.",
                "Nothing to ask",
            )
        settings = self.library.settings
        chosen = self.catalog.model(model)
        k = k or settings.answer_k
        embedder = self.library.embedder  # loads on first use: counted in setup_ms
        setup_ms = (time.perf_counter() - started) * 1000
        index_version = store.version()  # the index this answer is made from
        on_progress(AskProgress("retrieve"))
        retrieval = retrieve(
            store, embedder, question, k=k, rrf_k=settings.rrf_k,
            vector_cache=self._window_vectors,
        )  # fmt: skip
        with collecting() as receipts:
            answer, chosen, backend, policy, failovers = self._generate(
                question, retrieval, chosen, on_token=on_token, on_progress=on_progress,
                should_stop=should_stop, started=started,
            )  # fmt: skip
        record = build_record(
            answer,
            answer_id=new_answer_id(),
            model=chosen,
            model_sha256=self.catalog.sha256(chosen) if answer.ran_model else None,
            backend=backend.name,
            index_version=index_version,
            params={**self._params(k, backend, policy), "failover": failovers},
            total_ms=(time.perf_counter() - started) * 1000,
            setup_ms=setup_ms,
        )
        record.receipts = [receipt.as_json() for receipt in receipts]
        return record

    def _generate(
        self,
        question: str,
        retrieval: Retrieval,
        chosen: ModelInfo,
        *,
        on_token: Callable[[str], None],
        on_progress: Callable[[AskProgress], None],
        should_stop: Callable[[], bool],
        started: float,
    ) -> tuple[Answer, ModelInfo, Any, AnswerPolicy, list[dict[str, str]]]:
        """The answer from ``chosen``, or down its fallback chain when a remote backend fails
        (each failure recorded), until one backend gives a complete answer."""
        settings = self.library.settings
        failovers: list[dict[str, str]] = []
        tried = {chosen.name}
        while True:
            backend = self.catalog.backend(chosen.backend)
            policy = self._policy(chosen.name)
            try:
                answer = answer_question(
                    question, retrieval, partial(self.catalog.loaded, chosen, settings),
                    self._chat_params(), self.library.embedder, policy, on_token=on_token,
                    on_progress=on_progress, should_stop=should_stop, started=started,
                )  # fmt: skip
                return answer, chosen, backend, policy, failovers
            except (RemoteError, OfflineRefused) as exc:
                fallback = self.catalog.fallback(chosen)
                if fallback is None or fallback.name in tried:
                    raise
                failovers.append({"backend": chosen.backend, "model": chosen.name,
                                  "error": exc.message, "to": fallback.name})  # fmt: skip
                telemetry.FAILOVERS.add(1, {"workbench.backend": chosen.backend,
                                            "workbench.fallback": fallback.name})  # fmt: skip
                on_progress(AskProgress("failover"))  # a front end drops what was streamed
                chosen = fallback
                tried.add(chosen.name)

    def _chat_params(self) -> ChatParams:
        settings = self.library.settings
        return ChatParams(
            max_tokens=settings.max_answer_tokens, temperature=settings.temperature,
            seed=settings.seed, repeat_penalty=settings.repeat_penalty,
        )  # fmt: skip

    def _policy(self, model_name: str) -> AnswerPolicy:
        settings = self.library.settings
        return AnswerPolicy(
            min_relevance=settings.min_relevance, support_threshold=settings.support_threshold,
            evidence_tokens=settings.evidence_tokens,
            min_answerable=answerability.threshold(settings.min_answerable, model_name),
        )  # fmt: skip

    def _params(self, k: int, backend: Any, policy: AnswerPolicy) -> dict[str, Any]:
        """Everything besides the question and index that decided an answer."""
        params = self._chat_params()
        settings = self.library.settings
        return {
            "k": k,
            **{key: value for key, value in params.__dict__.items() if key != "json_schema"},
            "context_size": settings.context_size,
            "threads": settings.threads,
            "gpu_layers": settings.gpu_layers,
            "min_relevance": policy.min_relevance,
            "support_threshold": policy.support_threshold,
            "evidence_tokens": policy.evidence_tokens,
            "min_answerable": policy.min_answerable,
            "runtime": backend.describe(),
        }

    @explaining
    def replay(self, answer_id: str) -> ReplayResult:
        """Re-run a logged answer against its index version, model file and parameters, and
        say whether it came out identical (greedy decoding makes that the expected case)."""
        record = self.log.get(answer_id)
        if record.forgotten:
            return replay.cannot(
                record, "forgotten_source",
                f"A source of this answer was forgotten ({record.forgotten.get('at', '')}): "
                "it cannot be made again.",
            )  # fmt: skip
        try:
            past = self.library.resolve(str(record.index_version))
        except WorkbenchError as exc:
            return replay.cannot(record, "index_version", exc.message)
        if record.model_sha256 is None and not record.declined:
            return replay.cannot(
                record, "remote_model",
                f"It was answered by the remote backend {record.backend}, whose model "
                "weights cannot be checked by hash.",
            )  # fmt: skip
        model = replay.replay_model(record, self.catalog) if record.model_sha256 else None
        if record.model_sha256 and model is None:
            return replay.cannot(
                record, "model",
                f"No model file with sha256 {record.model_sha256} is here (it was "
                f"{record.model_path or record.model}). Add it with `workbench models add`.",
            )  # fmt: skip
        settings = replay.replay_settings(self.library.settings, record.params)
        replayer = Answerer(self.library.with_settings(settings), self.catalog)
        with foreground("ask", signal_file(self.library.lock_file)):
            again = replayer._answer(
                record.question, k=record.params.get("k"),
                model=model.name if model else record.model, on_token=lambda text: None,
                on_progress=lambda progress: None, should_stop=lambda: False,
                store=self.library.reading(past),
            )  # fmt: skip
        again.as_of = past.as_json()
        return replay.compare(record, again)

    @explaining
    def recent(self, limit: int | None = 20) -> list[AnswerSummary]:
        """Logged answers, newest first."""
        return self.log.recent(limit)

    @explaining
    def get(self, answer_id: str) -> AnswerRecord:
        """The full logged record of one answer (an id or a unique prefix of one)."""
        return self.log.get(answer_id)


def observed(current: Any, record: AnswerRecord) -> None:
    """An answer's outcome on its ``ask`` span and in the answer metrics."""
    outcome = "declined" if record.declined else "answered"
    labels = {"workbench.outcome": outcome, "gen_ai.request.model": record.model}
    if record.declined_because:
        labels["workbench.declined_because"] = record.declined_because
    telemetry.ANSWERS.add(1, labels)
    if record.timings.first_token_ms:
        telemetry.ASK_FIRST_TOKEN.record(record.timings.first_token_ms / 1000, labels)
    if not record.declined:
        telemetry.GROUNDEDNESS.record(record.groundedness, {"gen_ai.request.model": record.model})
        for sentence in record.sentences:
            verdict = "unchecked" if sentence.supported is None else (
                "supported" if sentence.supported else "unsupported")  # fmt: skip
            telemetry.SENTENCES.add(1, {"workbench.verdict": verdict})
    if current.is_recording():
        current.set_attributes({
            "workbench.answer.id": record.id, "workbench.outcome": outcome,
            "workbench.declined_because": record.declined_because or "",
            "workbench.answer.groundedness": record.groundedness,
            "workbench.index.version": record.index_version,
            "workbench.ask.first_token_ms": round(record.timings.first_token_ms, 1),
            "gen_ai.request.model": record.model, "workbench.backend": record.backend,
        })  # fmt: skip
        telemetry.content(current, "workbench.answer", record.answer)
