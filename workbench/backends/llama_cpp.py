"""The llama.cpp chat backend (llama-cpp-python), with a process-wide model cache.

A model is loaded once per process for a given (file, context size, threads, GPU layers) and
reused by every request after that: loading is the slow part, never done per request.
Generation drives ``Llama.eval`` and ``Llama.generate`` directly, so the per-token work in
Python is a sample, a detokenize and the ``on_token`` call, and the prompt's timing is
measured apart from the first token's. A prompt prefix already in the KV cache (the system
prompt of the previous request) is not evaluated again.

A chat call is foreground work (``core/foreground``): a sync in this process parks at its next
yield point, and the model runs on the cores background work leaves free, checked per token,
so its threads and the embedder's never outnumber the cores.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import functools
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.core.answering.answerability import NO_WORDS, YES_WORDS
from workbench.core.answering.chat import ChatParams, Completion
from workbench.core.foreground import chat_threads, foreground, free_threads, settle
from workbench.errors import WorkbenchError

NAME = "llama-cpp"
_CACHE: dict[tuple[str, int, int, int], LlamaCppModel] = {}
_CACHE_LOCK = threading.Lock()
_STATS = {"loads": 0}


def gpu_offload_supported() -> bool:
    """Whether this llama-cpp-python build can offload layers to a GPU (CUDA, Metal, ...)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def resolve_gpu_layers(setting: int | str) -> int:
    """``"auto"``: every layer (-1) when the build supports GPU offload, else 0 (CPU)."""
    if str(setting).strip().lower() == "auto":
        return -1 if gpu_offload_supported() else 0
    return int(setting)


def resolve_threads(setting: int) -> int:
    """Most threads the chat model may use: ``setting`` (0: one per core), at most the cores."""
    return chat_threads(setting)


class LlamaCppBackend:
    """Runs local GGUF models; see ``load``."""

    name = NAME

    def load(self, model: Any, settings: Any) -> LlamaCppModel:
        """The loaded model, from the process-wide cache when it was loaded before."""
        return load_model(
            model.path,
            name=model.name,
            context_size=min(settings.context_size, model.context or settings.context_size),
            threads=resolve_threads(settings.threads),
            gpu_layers=resolve_gpu_layers(settings.gpu_layers),
        )

    def describe(self) -> dict[str, Any]:
        import llama_cpp

        return {
            "name": NAME,
            "version": llama_cpp.__version__,
            "gpu_offload": gpu_offload_supported(),
            **cache_stats(),
            "loaded": sorted({model.path for model in _CACHE.values()}),
        }


def load_model(
    path: str, *, name: str, context_size: int, threads: int, gpu_layers: int
) -> LlamaCppModel:
    """Load (once per process) the GGUF at ``path`` with these runtime settings."""
    key = (os.path.realpath(path), context_size, threads, gpu_layers)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            cached.last_load_ms = 0.0
            return cached
        started = time.perf_counter()
        import llama_cpp

        try:
            llm = llama_cpp.Llama(
                model_path=path,
                n_ctx=context_size,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=gpu_layers,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise WorkbenchError(
                f"llama.cpp could not load {path}: {exc}. Check that the file is a complete GGUF "
                "chat model of an architecture this llama-cpp-python supports "
                "(`workbench models list` shows what its header says).",
                title="Model failed to load",
            ) from exc
        model = LlamaCppModel(name, path, llm, gpu_layers=gpu_layers, threads=threads)
        model.last_load_ms = (time.perf_counter() - started) * 1000
        if not _CACHE:
            atexit.register(close_all)
        _CACHE[key] = model
        _STATS["loads"] += 1
        return model


def batch_starts(length: int, shared: int, size: int) -> list[int]:
    """Where a prompt of ``length`` tokens is cut into batches: 0, ``shared``, then every
    ``size`` tokens after it."""
    starts = [0] + ([shared] if 0 < shared < length else [])
    starts += list(range(starts[-1] + size, length, size))
    return starts


def close_all() -> None:
    """Free every cached model while the interpreter is still whole.

    Left to garbage collection at shutdown, llama-cpp-python's ``__del__`` can run after the
    modules it needs are torn down and prints a TypeError traceback.
    """
    with _CACHE_LOCK:
        models = list(_CACHE.values())
        _CACHE.clear()
    for model in models:
        model.llm.close()


def cache_stats() -> dict[str, int]:
    """How many loads this process did and how many models it holds."""
    return {"loads": _STATS["loads"], "cached": len(_CACHE)}


@dataclass
class LlamaCppModel:
    """One loaded GGUF model; ``chat`` is serialised, since a llama.cpp context is not
    thread-safe."""

    name: str
    path: str
    llm: Any
    gpu_layers: int = 0
    threads: int = 1
    last_load_ms: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _formatter: Any = field(default=None, repr=False)
    _judged: bool = field(default=False, repr=False)  # the last prompt was a yes/no check
    context_size: int = field(init=False)  # fixed at load: a plain attribute, as ChatModel says
    threads_now: int = field(init=False)  # what llama.cpp runs on now, at most ``threads``

    def __post_init__(self) -> None:
        self.context_size = int(self.llm.n_ctx())
        self.threads_now = self.threads

    def _fit_threads(self) -> None:
        """Run on the cores background work leaves free (all of ``threads`` while a sync is
        parked); cheap enough to check before every token."""
        wanted = free_threads(self.threads)
        if wanted != self.threads_now:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self.llm.ctx, wanted, wanted)
            self.threads_now = wanted

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def truncate(self, text: str, max_tokens: int) -> str:
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) <= max_tokens:
            return text
        return str(self.llm.detokenize(tokens[: max(0, max_tokens)]).decode("utf-8", "ignore"))

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.prompt_token_ids(messages))

    def prompt_token_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The exact tokens the model is given for ``messages``."""
        return self._render(messages)[0]

    def _render(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str], int]:
        """Prompt tokens for ``messages`` through the model's own chat template, its stops,
        and where the first message's text ends (a prefix most prompts share, see
        ``_eval_prompt``).

        Only the template's own text may become control tokens (``<|im_start|>``...): each
        message's content is put in as a placeholder, and the text that replaces it is
        tokenized with special tokens off, so a document that spells out ``<|im_end|>`` stays
        plain text and cannot open a new chat turn.
        """
        if self._formatter is None:
            self._formatter = _chat_formatter(self.llm)
        nonce = secrets.token_hex(8)
        slots = [f"WBSLOT{nonce}N{i}E" for i in range(len(messages))]
        templated = [{**m, "content": slot} for m, slot in zip(messages, slots, strict=True)]
        response = self._formatter(messages=templated)
        contents = {slot: m["content"] for slot, m in zip(slots, messages, strict=True)}
        tokens: list[int] = []
        bos = not response.added_special
        shared = 0
        for index, part in enumerate(re.split(f"(WBSLOT{nonce}N\\d+E)", response.prompt)):
            if not part:
                continue
            is_content = index % 2 == 1
            text = contents[part] if is_content else part
            tokens += self.llm.tokenize(
                text.encode("utf-8"), add_bos=bos and not tokens, special=not is_content
            )
            if is_content and not shared:
                shared = len(tokens)
        stops = response.stop if isinstance(response.stop, list) else [response.stop or ""]
        return tokens, [s for s in stops if s], shared

    def chat(
        self,
        messages: list[dict[str, str]],
        params: ChatParams,
        *,
        on_token: Callable[[str], None] = lambda text: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:
        started = time.perf_counter()
        with self._lock, foreground("chat"):
            settle()  # a sync mid-batch reaches its yield point (bounded), then parks
            self._fit_threads()
            tokens, stops, shared = self._render(messages)
            room = self.context_size - len(tokens)
            if room < 1:
                raise WorkbenchError(
                    f"The prompt takes {len(tokens)} tokens, more than the model's context of "
                    f"{self.context_size}. Ask with fewer sources (--k) or raise context_size.",
                    title="Prompt too long",
                )
            prompt_started = time.perf_counter()
            self._eval_prompt(tokens, shared, continues=self._judged)
            prompt_ms = (time.perf_counter() - prompt_started) * 1000
            text, count, first_at, last_at, reason = self._decode(
                tokens, min(params.max_tokens, room), params, stops + params.stop, on_token,
                should_stop,
            )  # fmt: skip
        first_token_ms = ((first_at or time.perf_counter()) - started) * 1000
        return Completion(
            text=text,
            prompt_tokens=len(tokens),
            completion_tokens=count,
            prompt_ms=prompt_ms,
            first_token_ms=first_token_ms,
            generate_ms=((last_at - first_at) * 1000) if first_at and last_at else 0.0,
            finish_reason=reason,
            load_ms=self.last_load_ms,
        )

    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        """How likely the reply to ``messages`` starts with yes rather than no (see
        core/answering/answerability.py); the prompt stays in the KV cache for the next call."""
        with self._lock, foreground("chat"):
            settle()
            self._fit_threads()
            tokens, _, shared = self._render(messages)
            if len(tokens) >= self.context_size:
                return 1.0  # too long to judge: let the answer's own error say so
            self._eval_prompt(tokens, shared)
            self._judged = True  # the answer that follows continues from this prompt
            logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),))
            yes = np.logaddexp.reduce(logits[self._first_tokens(YES_WORDS)].astype(np.float64))
            no = np.logaddexp.reduce(logits[self._first_tokens(NO_WORDS)].astype(np.float64))
        return float(1.0 / (1.0 + np.exp(no - yes)))

    def _first_tokens(self, words: tuple[str, ...]) -> list[int]:
        """The first token of each word, bare and after a space."""
        ids = {self.llm.tokenize(f"{space}{word}".encode(), add_bos=False, special=False)[0]
               for word in words for space in ("", " ")}  # fmt: skip
        return sorted(ids)

    def _eval_prompt(self, tokens: list[int], shared: int = 0, continues: bool = False) -> None:
        """Evaluate the prompt, reusing the KV cache for a prefix shared with the last one.

        Batches start at fixed points of the prompt: its start, the end of its first message
        (``shared``), then every ``n_batch`` tokens; a cached prefix is reused up to the last
        such point. So an answer is computed in the same batches however warm the cache was,
        and comes out bit for bit the same (`workbench answers replay`). ``continues``: this
        prompt follows the last one in the same ask (the answer after its yes/no check), which
        a replay repeats too, so everything shared is reused.
        """
        llm = self.llm
        self._judged = False
        reusable = 0
        if not (getattr(llm, "_is_recurrent", True) or getattr(llm, "_is_hybrid", True)):
            previous = llm.input_ids[: llm.n_tokens]
            limit = min(len(previous), len(tokens) - 1)  # evaluate at least one: fresh logits
            while reusable < limit and previous[reusable] == tokens[reusable]:
                reusable += 1
        starts = batch_starts(len(tokens), shared, llm.n_batch)
        if not continues:
            reusable = max(start for start in starts if start <= reusable)
        if reusable == 0:
            llm.reset()
        llm.n_tokens = reusable  # eval() drops the KV cache beyond this point
        ends = [start for start in starts if start > reusable] + [len(tokens)]
        begin = reusable
        for end in ends:
            if end > begin:
                llm.eval(tokens[begin:end])
                begin = end

    def _decode(
        self,
        tokens: list[int],
        max_tokens: int,
        params: ChatParams,
        stops: list[str],
        on_token: Callable[[str], None],
        should_stop: Callable[[], bool],
    ) -> tuple[str, int, float | None, float | None, str]:
        import llama_cpp

        llm = self.llm
        if params.temperature > 0:
            llm.set_seed(params.seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = llm._model.vocab
        pieces: list[str] = []
        count, first_at, last_at, reason = 0, None, None, "length"
        # The prompt is already evaluated, so generate() samples its first token at once.
        generator = llm.generate(tokens, temp=params.temperature, top_k=40, top_p=0.95,
                                 min_p=0.05, repeat_penalty=params.repeat_penalty,
                                 grammar=grammar_for(params.json_schema))  # fmt: skip
        with contextlib.closing(generator):
            for token in generator:
                self._fit_threads()
                last_at = time.perf_counter()
                first_at = first_at or last_at
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    reason = "stop"
                    break
                count += 1
                piece = decoder.decode(llm.detokenize([token]))
                if piece:
                    pieces.append(piece)
                    on_token(piece)
                if stops and _hit_stop(pieces, stops):
                    reason = "stop"
                    break
                if count >= max_tokens:
                    break
                if should_stop():
                    reason = "cancelled"
                    break
        text = "".join(pieces)
        for stop in stops:
            if stop in text:
                text = text[: text.index(stop)]
        return text, count, first_at, last_at, reason


def grammar_for(schema: dict[str, Any] | None) -> Any:
    """The llama.cpp grammar of a JSON Schema (compiled once per schema), or None. Properties
    keep their order (the key is not sorted): a step names its tool before its arguments."""
    return _grammar(json.dumps(schema)) if schema is not None else None


@functools.lru_cache(maxsize=16)
def _grammar(schema: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema, verbose=False)


def _hit_stop(pieces: list[str], stops: list[str]) -> bool:
    tail = "".join(pieces[-8:])
    return any(stop in tail for stop in stops)


def _chat_formatter(llm: Any) -> Any:
    """The model's own chat template (GGUF metadata), as llama-cpp-python renders it."""
    from llama_cpp import llama_chat_format

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise WorkbenchError(
            "This model has no chat template in its GGUF metadata, so it is most likely a base "
            "model, not an instruction-tuned chat model. Choose a chat model with "
            "`workbench models use NAME`.",
            title="Not a chat model",
        )
    eos, bos = llm.token_eos(), llm.token_bos()
    return llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )
