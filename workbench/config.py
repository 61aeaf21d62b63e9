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

    library_uri: str = ""
    """Where the library's index lives: empty for the data folder (`workbench paths`), another
    folder, or s3://bucket/prefix on S3-compatible storage, which takes its credentials and
    endpoint from the standard AWS_* variables (README "Scaling out")."""

    library_storage_options: dict[str, str] = field(default_factory=dict)
    """Storage options for an s3:// library_uri, over the AWS_* variables, e.g. {endpoint =
    "http://127.0.0.1:9000", allow_http = "true", region = "us-east-1"}. Secrets are refused
    here: keep them in AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN."""

    max_file_mb: float = 25.0
    """Files larger than this many MiB are skipped with a reason instead of indexed."""

    chunk_tokens: int = 256
    """Largest chunk in embedder tokens (the embedder truncates beyond 256)."""

    embedder: str = "minilm-l6-int8"
    """Name of the embedder used for new vectors (see `workbench plugins`)."""

    embed_batch_size: int = 8
    """How many chunks go through the embedder at once."""

    embed_threads: int = 0
    """CPU threads a sync embeds with; 0 means one per core, up to 4. Never more than the
    cores."""

    sync_max_pause_s: float = 30.0
    """A sync pauses while an answer or a search runs (in this process, or another using the
    same library), at most this long in a row before it goes on with fewer threads; 0 never
    pauses."""

    ignore: list[str] = field(default_factory=list)
    """Extra glob patterns to ignore, on top of .git, node_modules, virtualenvs and temp files."""

    search_k: int = 10
    """Default number of search results."""

    rrf_k: int = 60
    """Reciprocal rank fusion constant for hybrid search."""

    follow_symlinks: bool = True
    """Follow symbolic links to files and folders inside your added folders (loops are
    detected and skipped). A link whose target lies outside them is never followed."""

    allow_link_targets: list[str] = field(default_factory=list)
    """Folders outside your added folders that symbolic links may lead into, e.g.
    ["/mnt/archive"]; links to anywhere else are skipped with a reason."""

    ocr_engine: str = "auto"
    """OCR engine for scanned pages and images: "rapidocr" (bundled, English), "tesseract"
    (the system program, any language with its data installed) or "auto": the one that read
    best in bench/ocr_engines.py among those installed that read ocr_language."""

    ocr_language: str = "eng"
    """Tesseract language(s) for scanned pages and images, e.g. "eng" or "eng+deu" (each needs
    its language data installed, e.g. `apt install tesseract-ocr-deu`)."""

    ocr_max_pages: int = 100
    """Most pages OCR'd per document; further pages without a text layer are left out and
    listed by `workbench doctor`."""

    index_history_days: float = 7.0
    """Old index versions are kept this long (then pruned), so an answer in the log can be
    replayed (`workbench answers replay`) and `--as-of` can read the library as it was.
    Tagged versions (`workbench tag`) are kept until untagged."""

    index_history_budget: float = 1.0
    """Old versions may take at most this many times the disk space of the current index;
    past it the oldest untagged versions are pruned early, so a library that syncs all day
    stays a small multiple of its own size."""

    watch_debounce_s: float = 0.2
    """`workbench watch` syncs once a folder has been quiet this long after a change."""

    watch_max_wait_s: float = 2.0
    """...or after this long of continuous changes (a big copy or checkout), whichever is first."""

    chat_model: str = ""
    """Chat model for `workbench ask` (see `workbench models list`). Empty: the one chosen
    with `workbench models use`, else the bundled SmolLM2-135M-Instruct."""

    threads: int = 0
    """CPU threads for the chat model; 0 means one per core. Never more than the cores, and
    fewer while a sync that could not pause embeds."""

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

    evidence_tokens: int = 120
    """The model reads the sentences of the retrieved sources that bear on the question, this
    many tokens in all (prompt evaluation is most of the wait on a CPU); 0 gives it the whole
    chunks instead, as many as fit the context."""

    min_answerable: float | str = "auto"
    """Before answering, the model says whether the sources state the answer; `ask` declines
    when its P(yes) is below this (0-1). "auto": the value measured for a bundled model, else
    0.5; 0 turns the check off."""

    scan_model_caches: bool = True
    """List GGUF models found in the LM Studio, Ollama and Hugging Face caches (never copied)."""

    metrics_port: int = 0
    """Serve Prometheus metrics on http://127.0.0.1:PORT/metrics while the terminal UI or
    `workbench watch` runs (`watch --metrics-port` overrides); 0 serves none. Traces and
    metrics go to an OpenTelemetry collector when OTEL_EXPORTER_OTLP_ENDPOINT is set."""

    offline: bool = False
    """Nothing leaves the machine: every remote backend call is refused before it is sent."""

    backends: dict[str, BackendConfig] = field(default_factory=dict)
    """Remote backends by name, from the config file's [backends.NAME] blocks."""

    @classmethod
    def load(cls, config_file: Path, environ: dict[str, str] | None = None) -> Settings:
        """Read ``config_file`` (if it exists), then apply WORKBENCH_* overrides.

        Every value is checked against its setting's type and range; a bad one raises a
        WorkbenchError naming the setting, where the value came from and what it expects.
        """
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        document = _read_toml(config_file)
        blocks = document.pop("backends", {})
        for name, value in document.items():
            values[name] = value
            sources[name] = f"in {config_file}"
        environ = dict(os.environ if environ is None else environ)
        known = {f.name: f for f in fields(cls)}
        for name in known:
            variable = ENV_PREFIX + name.upper()
            raw = environ.get(variable)
            if raw is not None:
                values[name] = raw
                sources[name] = f"from the environment variable {variable}"
        values.pop("backends", None)  # only from the file's [backends.NAME] blocks
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise WorkbenchError(
                f"Unknown setting(s) {', '.join(unknown)} in {config_file}. "
                f"Known settings: {', '.join(sorted(known))}.",
                title="Bad config",
            )
        typed = {
            name: _coerce(name, value, str(known[name].type), sources[name])
            for name, value in values.items()
        }
        settings = cls(**typed, backends=parse_backends(blocks, config_file))
        try:
            settings.validate()
        except SettingError as exc:
            where = sources.get(exc.setting, "(the default)")
            raise WorkbenchError(f"{exc.message} It was set {where}.", exc.title) from None
        return settings

    def validate(self) -> None:
        if not 16 <= self.chunk_tokens <= 256:
            raise SettingError(
                "chunk_tokens", f"chunk_tokens must be between 16 and 256, not {self.chunk_tokens}."
            )
        if self.max_file_mb <= 0:
            raise SettingError("max_file_mb", "max_file_mb must be positive.")
        if self.embed_batch_size < 1 or self.search_k < 1 or self.rrf_k < 1:
            name = next(
                n for n in ("embed_batch_size", "search_k", "rrf_k") if getattr(self, n) < 1
            )
            raise SettingError(name, f"{name} must be at least 1, not {getattr(self, name)}.")
        if self.index_history_days < 0:
            raise SettingError("index_history_days", "index_history_days must be 0 or more.")
        if self.index_history_budget < 0:
            raise SettingError(
                "index_history_budget", "index_history_budget must be 0 (no history) or more."
            )
        if self.ocr_max_pages < 0:
            raise SettingError("ocr_max_pages", "ocr_max_pages must be 0 (no OCR) or more.")
        if self.ocr_engine not in ("auto", "rapidocr", "tesseract"):
            raise SettingError(
                "ocr_engine",
                f'ocr_engine must be "auto", "rapidocr" or "tesseract", not {self.ocr_engine!r}.',
            )
        for name in ("watch_debounce_s", "watch_max_wait_s", "sync_max_pause_s"):
            if getattr(self, name) < 0:
                raise SettingError(name, f"{name} must be 0 or more seconds.")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingError(
                "metrics_port",
                f"metrics_port must be 0 (off) or a port up to 65535, not {self.metrics_port}.",
            )
        from workbench.core.index.location import Location, refused_option

        if self.library_uri.strip():
            try:
                Location.parse(self.library_uri, environ={})
            except WorkbenchError as exc:
                raise SettingError("library_uri", exc.message) from None
        secret = [k for k in self.library_storage_options if refused_option(k)]
        if secret:
            raise SettingError(
                "library_storage_options",
                f"library_storage_options may not hold {', '.join(secret)}: keep secrets in the "
                "environment (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), never in a config file.",
            )
        if self.embed_threads < 0:
            raise SettingError(
                "embed_threads",
                f"embed_threads must be 0 (one per core, up to 4) or more, not "
                f"{self.embed_threads}.",
            )
        self.validate_chat()

    def validate_chat(self) -> None:
        """Checks the chat settings; normalises ``gpu_layers`` to "auto" or an int."""
        layers = str(self.gpu_layers).strip().lower()
        if layers != "auto" and not layers.lstrip("-").isdigit():
            raise SettingError(
                "gpu_layers",
                f'gpu_layers must be "auto" or a number of layers, not {self.gpu_layers!r}.',
            )
        self.gpu_layers = layers if layers == "auto" else int(layers)
        if self.context_size < 512:
            raise SettingError(
                "context_size",
                f"context_size must be at least 512 tokens, not {self.context_size}.",
            )
        if self.threads < 0:
            raise SettingError(
                "threads", f"threads must be 0 (one per core) or more, not {self.threads}."
            )
        for name in ("max_answer_tokens", "answer_k"):
            if getattr(self, name) < 1:
                raise SettingError(name, f"{name} must be at least 1, not {getattr(self, name)}.")
        if self.evidence_tokens != 0 and not 32 <= self.evidence_tokens <= 4096:
            raise SettingError(
                "evidence_tokens",
                f"evidence_tokens must be 0 (whole chunks) or 32-4096, not {self.evidence_tokens}.",
            )
        answerable = str(self.min_answerable).strip().lower()
        if answerable != "auto":
            try:
                value = float(answerable)
            except ValueError:
                value = -1.0
            if not 0.0 <= value <= 1.0:
                raise SettingError(
                    "min_answerable",
                    f'min_answerable must be "auto" or between 0 and 1, not '
                    f"{self.min_answerable!r}.",
                )
        self.min_answerable = answerable if answerable == "auto" else float(answerable)
        for name in ("min_relevance", "support_threshold", "temperature"):
            limit = 2.0 if name == "temperature" else 1.0
            if not 0.0 <= getattr(self, name) <= limit:
                raise SettingError(name, f"{name} must be between 0 and {limit:g}.")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


class SettingError(WorkbenchError):
    """A setting has a value it cannot take; ``Settings.load`` adds where it came from."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message, "Bad config")
        self.setting = setting


def _read_toml(config_file: Path) -> dict[str, Any]:
    try:
        text = config_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkbenchError(
            f"The config file {config_file} cannot be read: {exc}. Fix its permissions or "
            "delete it to go back to the defaults.",
            title="Bad config",
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorkbenchError(
            f"The config file {config_file} is not valid TOML: {exc}. "
            "Fix it or delete it to go back to the defaults.",
            title="Bad config",
        ) from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, value: Any, type_name: str, where: str) -> Any:
    """``value`` as the setting's type (strings from the environment are parsed, as TOML
    strings holding a number are); a value that is not one raises a WorkbenchError."""
    expected, parsed = _parse(value, type_name)
    if parsed is _INVALID:
        example = _EXAMPLES.get(expected, "")
        raise WorkbenchError(
            f"The setting {name} = {value!r} ({where}) is not {expected}. "
            f"Set it like {name} = {example} in config.toml, or remove it to use the default."
            if example
            else f"The setting {name} = {value!r} ({where}) is not {expected}.",
            title="Bad config",
        )
    return parsed


_INVALID = object()
_EXAMPLES = {
    "a number": "25",
    "a whole number": "8",
    "true or false": "true",
    "a list of strings": '["*.bak", "build"]',
    '"auto" or a whole number': '"auto"',
    '"auto" or a number': '"auto"',
    "a string": '"text"',
    "a table of strings": '{endpoint = "http://127.0.0.1:9000"}',
}


def _parse(value: Any, type_name: str) -> tuple[str, Any]:
    """(what the type expects in words, the parsed value or _INVALID)."""
    if "dict" in type_name:
        expected = "a table of strings"
        if isinstance(value, str):  # from the environment: key=value,key=value
            pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
            ok = all(len(pair) == 2 and pair[0].strip() for pair in pairs)
            return expected, {k.strip(): v.strip() for k, v in pairs} if ok else _INVALID
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            simple = all(isinstance(v, str | bool | int | float) for v in value.values())
            return expected, {k: _option_text(v) for k, v in value.items()} if simple else _INVALID
        return expected, _INVALID
    if "list" in type_name:
        if isinstance(value, str):  # from the environment: comma-separated
            return "a list of strings", [part.strip() for part in value.split(",") if part.strip()]
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return "a list of strings", list(value) if ok else _INVALID
    if "bool" in type_name:
        if isinstance(value, bool):
            return "true or false", value
        text = str(value).strip().lower() if isinstance(value, str) else None
        if text in _TRUE:
            return "true or false", True
        return "true or false", False if text in _FALSE else _INVALID
    if "str" in type_name and ("int" in type_name or "float" in type_name):  # or "auto"
        kind = int if "int" in type_name else float
        expected = '"auto" or a whole number' if kind is int else '"auto" or a number'
        if isinstance(value, str) and value.strip().lower() == "auto":
            return expected, "auto"
        return expected, _number(value, kind)
    if "int" in type_name:
        return "a whole number", _number(value, int)
    if "float" in type_name:
        return "a number", _number(value, float)
    return "a string", value if isinstance(value, str) else _INVALID


def _option_text(value: str | bool | int | float) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int | float) and kind is float:
        return float(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else _INVALID
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return _INVALID
        if number != number or number in (float("inf"), float("-inf")):
            return _INVALID
        return _number(number, kind)
    return _INVALID


RESERVED_BACKENDS = {"local", "llama-cpp"}  # fallback = "local"; local models' backend
BACKEND_KEYS = {
    "type", "base_url", "model", "api_key_env", "timeout_s", "connect_timeout_s", "max_retries",
    "fallback", "input_name", "output_name",
}  # fmt: skip


@dataclass(frozen=True)
class BackendConfig:
    """One remote backend: a [backends.NAME] block of config.toml (never holds a key: the key
    is read from the environment variable ``api_key_env`` names, per request)."""

    name: str
    type: str  # a backend plugin's name: "openai", "kserve", ...
    base_url: str
    model: str = ""
    api_key_env: str = ""
    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    max_retries: int = 2
    fallback: str = "local"  # another backend's name, "local" (the local model) or "" (none)
    input_name: str = "text"  # KServe v2: the BYTES tensor the prompt goes in
    output_name: str = "text"  # KServe v2: the BYTES tensor the answer comes back in


def parse_backends(blocks: Any, config_file: Path) -> dict[str, BackendConfig]:
    """The [backends.NAME] blocks, checked: each problem names the block and what to write."""
    if not isinstance(blocks, dict):
        raise WorkbenchError(f"`backends` in {config_file} must be [backends.NAME] blocks.",
                             "Bad config")  # fmt: skip
    parsed = {}
    for name, block in blocks.items():
        where = f"[backends.{name}] in {config_file}"
        if not isinstance(block, dict):
            raise WorkbenchError(f"{where} must be a table of settings.", "Bad config")
        if name in RESERVED_BACKENDS:
            raise WorkbenchError(f"{where}: '{name}' names the local model; call the block "
                                 "something else, e.g. [backends.gpu].", "Bad config")  # fmt: skip
        if any("key" in key and key != "api_key_env" for key in block):
            raise WorkbenchError(
                f"{where} holds a key. Keys are never written to config: put it in an "
                f'environment variable and name that here, e.g. api_key_env = "GPU_API_KEY".',
                "Bad config",
            )
        unknown = sorted(set(block) - BACKEND_KEYS)
        if unknown:
            raise WorkbenchError(
                f"{where}: unknown key(s) {', '.join(unknown)}. Known: "
                f"{', '.join(sorted(BACKEND_KEYS))}.",
                "Bad config",
            )
        for required in ("type", "base_url"):
            if not isinstance(block.get(required), str) or not block[required].strip():
                raise WorkbenchError(f'{where} needs {required} = "...".', "Bad config")
        if not block["base_url"].startswith(("http://", "https://")):
            raise WorkbenchError(
                f"{where}: base_url must start with http:// or https://, not "
                f"{block['base_url']!r}.",
                "Bad config",
            )
        try:
            parsed[name] = BackendConfig(name=name, **block)
            _check_numbers(parsed[name])
        except (TypeError, ValueError) as exc:
            raise WorkbenchError(f"{where}: {exc}", "Bad config") from None
    for config in parsed.values():
        if config.fallback not in ("", "local", *parsed) or config.fallback == config.name:
            raise WorkbenchError(
                f"[backends.{config.name}] in {config_file}: fallback = {config.fallback!r} "
                'must be "local" (the local model), "" (none) or another [backends] block.',
                "Bad config",
            )
    return parsed


def _check_numbers(config: BackendConfig) -> None:
    for name in ("timeout_s", "connect_timeout_s"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{name} must be a number of seconds above 0, not {value!r}.")
    retries = config.max_retries
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise ValueError(f"max_retries must be a whole number from 0 to 10, not {retries!r}.")
