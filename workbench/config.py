"""Settings: defaults, overridden by config.toml, overridden by WORKBENCH_* environment variables.

CLI flags override all three where a command offers them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

ENV_PREFIX = "WORKBENCH_"


@dataclass
class Settings:
    """User settings. Each field can be set in config.toml or as WORKBENCH_<FIELD>."""

    max_file_mb: float = 25.0
    """Files larger than this many MiB are skipped with a reason instead of indexed."""

    chunk_tokens: int = 256
    """Largest chunk in embedder tokens (the embedder truncates beyond 256)."""

    embedder: str = "minilm-l6-int8"
    """Name of the embedder used for new vectors (see `workbench plugins`)."""

    embed_batch_size: int = 8
    """How many chunks go through the embedder at once."""

    ignore: list[str] = field(default_factory=list)
    """Extra glob patterns to ignore, on top of .git, node_modules, virtualenvs and temp files."""

    search_k: int = 10
    """Default number of search results."""

    rrf_k: int = 60
    """Reciprocal rank fusion constant for hybrid search."""

    follow_symlinks: bool = True
    """Follow symbolic links to files and folders (loops are detected and skipped)."""

    ocr_language: str = "eng"
    """Tesseract language(s) for scanned pages and images, e.g. "eng" or "eng+deu" (each needs
    its language data installed, e.g. `apt install tesseract-ocr-deu`)."""

    ocr_max_pages: int = 100
    """Most pages OCR'd per document; further pages without a text layer are left out and
    listed by `workbench doctor`."""

    index_history_days: float = 7.0
    """Old index versions are kept this long (then pruned), so an answer in the log can be
    reproduced against the index version it was given."""

    watch_debounce_s: float = 0.2
    """`workbench watch` syncs once a folder has been quiet this long after a change."""

    watch_max_wait_s: float = 2.0
    """...or after this long of continuous changes (a big copy or checkout), whichever is first."""

    chat_model: str = ""
    """Chat model for `workbench ask` (see `workbench models list`). Empty: the one chosen
    with `workbench models use`, else the bundled SmolLM2-135M-Instruct."""

    threads: int = 0
    """CPU threads for the chat model; 0 means one per core."""

    context_size: int = 4096
    """Context window in tokens given to the chat model (capped at what the model was trained
    for). Sources are packed to fit it, after room for the answer."""

    gpu_layers: int | str = "auto"
    """Model layers offloaded to the GPU: "auto" offloads every layer when llama-cpp-python was
    built with GPU support and runs on the CPU otherwise; 0 forces the CPU."""

    max_answer_tokens: int = 384
    """Most tokens an answer may have."""

    temperature: float = 0.0
    """Sampling temperature for answers; 0 is greedy, so the same question over the same index
    gives the same answer."""

    seed: int = 42
    """Random seed for sampling when temperature is above 0."""

    repeat_penalty: float = 1.1
    """Penalty on recently generated tokens; above 1 keeps small models out of loops."""

    answer_k: int = 6
    """How many retrieved chunks `workbench ask` considers as sources (`--k` overrides)."""

    min_relevance: float = 0.4
    """`ask` declines without calling the model when no retrieved chunk reaches this cosine
    similarity to the question (0-1)."""

    support_threshold: float = 0.55
    """An answer sentence scoring below this against its sources is flagged unsupported (0-1)."""

    scan_model_caches: bool = True
    """List GGUF models found in the LM Studio, Ollama and Hugging Face caches (never copied)."""

    @classmethod
    def load(cls, config_file: Path, environ: dict[str, str] | None = None) -> Settings:
        """Read ``config_file`` (if it exists), then apply WORKBENCH_* overrides."""
        values: dict[str, Any] = {}
        if config_file.exists():
            try:
                values.update(tomllib.loads(config_file.read_text(encoding="utf-8")))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise WorkbenchError(
                    f"The config file {config_file} is not valid TOML: {exc}. "
                    "Fix it or delete it to go back to the defaults.",
                    title="Bad config",
                ) from exc
        environ = dict(os.environ if environ is None else environ)
        known = {f.name: f for f in fields(cls)}
        for name, spec in known.items():
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _parse_env(raw, spec.type)
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise WorkbenchError(
                f"Unknown setting(s) {', '.join(unknown)} in {config_file}. "
                f"Known settings: {', '.join(sorted(known))}.",
                title="Bad config",
            )
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 16 <= self.chunk_tokens <= 256:
            raise WorkbenchError(
                f"chunk_tokens must be between 16 and 256, not {self.chunk_tokens}.", "Bad config"
            )
        if self.max_file_mb <= 0:
            raise WorkbenchError("max_file_mb must be positive.", "Bad config")
        if self.index_history_days < 0:
            raise WorkbenchError("index_history_days must be 0 or more.", "Bad config")
        if self.ocr_max_pages < 0:
            raise WorkbenchError("ocr_max_pages must be 0 (no OCR) or more.", "Bad config")
        self.validate_chat()

    def validate_chat(self) -> None:
        """Checks the chat settings; normalises ``gpu_layers`` to "auto" or an int."""
        layers = str(self.gpu_layers).strip().lower()
        if layers != "auto" and not layers.lstrip("-").isdigit():
            raise WorkbenchError(
                f'gpu_layers must be "auto" or a number of layers, not {self.gpu_layers!r}.',
                "Bad config",
            )
        self.gpu_layers = layers if layers == "auto" else int(layers)
        if self.context_size < 512:
            raise WorkbenchError(
                f"context_size must be at least 512 tokens, not {self.context_size}.", "Bad config"
            )
        if self.threads < 0 or self.max_answer_tokens < 1 or self.answer_k < 1:
            raise WorkbenchError(
                "threads must be 0 or more; max_answer_tokens and answer_k at least 1.",
                "Bad config",
            )
        for name in ("min_relevance", "support_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise WorkbenchError(f"{name} must be between 0 and 1.", "Bad config")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


def _parse_env(raw: str, type_name: Any) -> Any:
    text = str(type_name)
    if "list" in text:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if "bool" in text:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if "int" in text:
        try:
            return int(raw)
        except ValueError:
            if "str" in text:  # e.g. gpu_layers: a number or "auto"
                return raw.strip()
            raise
    if "float" in text:
        return float(raw)
    return raw
