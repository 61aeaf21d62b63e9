"""The models service: which chat models exist, which is the default, and their backends.

Discovery reads GGUF headers in several folders (ours, LM Studio's, Ollama's, Hugging
Face's) and in installed model packages, so its result is kept until something changes: the
remembered state, a folder (to three levels, where those tools put their files) gaining or
losing an entry, or a model package part installed or removed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.backends import remote
from workbench.backends.remote import health
from workbench.backends.remote.health import BackendHealth
from workbench.backends.remote.receipts import JOURNAL_NAME, Journal
from workbench.config import BackendConfig, Settings
from workbench.core.answering import packaged
from workbench.core.answering.gguf import read_header
from workbench.core.answering.models import (
    BUNDLED_NAME,
    ModelInfo,
    ModelState,
    discover,
    file_sha256,
    find,
    huggingface_roots,
    lmstudio_roots,
    ollama_roots,
)
from workbench.core.telemetry import genai
from workbench.errors import WorkbenchError
from workbench.paths import Paths

Signature = tuple[tuple[str, int], ...]


class ModelCatalog:
    """Chat models by name, the default one, and the backends that run them."""

    def __init__(
        self,
        paths: Paths,
        settings: Settings,
        backends: Mapping[str, Callable[[], Any]],
        home: Path | None = None,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.backend_factories = dict(backends)
        self._home = home  # None: the user's home, looked up when needed
        self._backends: dict[str | tuple[str, str], Any] = {}
        self._traced: dict[int, Any] = {}  # loaded models by id, each with its traced wrapper
        self._found: tuple[Signature, ModelState, list[ModelInfo]] | None = None
        # Every remote request that carried library text (`workbench backends receipts`).
        self.journal = Journal(paths.data_dir / JOURNAL_NAME)

    @property
    def home(self) -> Path:
        return self._home or Path.home()

    def _discovered(self) -> tuple[ModelState, list[ModelInfo]]:
        signature = self._signature()
        if self._found is None or self._found[0] != signature:
            state = ModelState.load(self.paths.models_state_file)
            models = discover(
                self.paths.models_dir, state.added or [],
                scan_caches=self.settings.scan_model_caches, home=self.home,
                packaged=packaged.describe_installed(self.paths.models_dir),
            )  # fmt: skip
            self._found = (signature, state, models)
        return self._found[1], self._found[2]

    def _signature(self) -> Signature:
        """Modification times of the state file, the added files, the model folders and the
        installed model package parts."""
        roots = [self.paths.models_dir]
        if self.settings.scan_model_caches:
            # Ollama adds a blob to its flat blobs/ folder for every new model.
            roots += lmstudio_roots(self.home) + huggingface_roots(self.home)
            roots += ollama_roots(self.home)
        added = (self._found[1].added or []) if self._found else []
        stamps = [_stamp(self.paths.models_state_file), *(_stamp(Path(p)) for p in added)]
        stamps += packaged.part_stamps()
        for root in roots:
            stamps += _folder_stamps(root, depth=3)
        return tuple(stamps)

    def default_name(self) -> str:
        """The `chat_model` setting, else the `models use` choice, else the best installed
        packaged model (``packaged.DEFAULT_ORDER``), else the bundled SmolLM2."""
        state, models = self._discovered()
        return self.settings.chat_model or state.default or _best_local(models)

    def models(self) -> list[ModelInfo]:
        """Every chat model Workbench can run, the default one marked."""
        _, local = self._discovered()
        models = local + self.remote_models()
        default = self.default_name().lower()
        for model in models:
            model.default = model.name.lower() == default
        return models

    def model(self, name: str | None = None) -> ModelInfo:
        """The model called ``name`` (a model name or a .gguf path), or the default one, ready
        to load: a model installed as package parts is joined into the models folder on first
        use (once; later runs reuse the file)."""
        model = self._usable(name)
        return packaged.ready(model, self.paths.models_dir, self._hashes_file)

    def _usable(self, name: str | None) -> ModelInfo:
        model = find(self.models(), name or self.default_name())
        if model.error:
            raise WorkbenchError(
                f"The model '{model.name}' cannot be used: {model.error}", "Model unusable"
            )
        return model

    @property
    def _hashes_file(self) -> Path:
        return self.paths.cache_dir / "model-hashes.json"

    def use(self, name: str) -> ModelInfo:
        """Make ``name`` the default chat model (remembered across runs; not joined yet)."""
        model = self._usable(name)
        state = ModelState.load(self.paths.models_state_file)
        state.default = model.name
        state.save(self.paths.models_state_file)
        model.default = True
        return model

    def add(self, path: str | os.PathLike[str]) -> ModelInfo:
        """Register a GGUF file where it is (nothing is copied)."""
        file = Path(path).expanduser().absolute()
        if not file.is_file():
            raise WorkbenchError(
                f"{file} is not a file. Give the path of a .gguf model file.", "Cannot add model"
            )
        read_header(file)  # refuses anything that is not a readable GGUF, with the reason
        state = ModelState.load(self.paths.models_state_file)
        if str(file) not in (state.added or []):
            state.added = [*(state.added or []), str(file)]
            state.save(self.paths.models_state_file)
        real = os.path.realpath(file)
        return next(m for m in self.models() if os.path.realpath(m.path) == real)

    def remote_models(self) -> list[ModelInfo]:
        """The model of each [backends.NAME] block, as ``NAME:MODEL`` (nothing is fetched)."""
        found = []
        for config in self.settings.backends.values():
            info = ModelInfo(f"{config.name}:{config.model}", config.base_url, "remote",
                             backend=config.name)  # fmt: skip
            if config.type not in self.backend_factories:
                info.error = (
                    f"no backend type '{config.type}' is installed (for an OpenAI-compatible "
                    'server: the workbench-openai plugin, type = "openai")'
                )
            found.append(info)
        return found

    def fallback(self, model: ModelInfo) -> ModelInfo | None:
        """Where an answer goes when ``model``'s remote backend fails: its block's
        ``fallback`` (another backend, or "local": the default local model), or None."""
        config = self.settings.backends.get(model.backend) if model.source == "remote" else None
        if config is None or not config.fallback:
            return None
        if config.fallback == "local":  # the default model, unless that is a remote one
            _, local = self._discovered()
            default = self.default_name().lower()
            usable = any(m.name.lower() == default and not m.error for m in local)
            return self.model(self.default_name() if usable else _best_local(local))
        target = self.settings.backends.get(config.fallback)
        if target is None:
            raise WorkbenchError(
                f"[backends.{config.name}] falls back to '{config.fallback}', which is neither "
                'another [backends] block nor "local".',
                "Bad config",
            )
        return self._usable(f"{target.name}:{target.model}")

    def backend(self, name: str) -> Any:
        """The backend called ``name``, created once (a [backends.NAME] block connects its
        type to its server through one transport)."""
        config = self.settings.backends.get(name)
        if config is not None:  # a block may share its type's name: [backends.kserve]
            if ("block", name) not in self._backends:
                kind = self._installed(config.type)
                transport = remote.transport_for(config, self.settings, self.journal)
                connected = kind.connect(config, transport)
                self._backends["block", name] = connected
            return self._backends["block", name]
        return self._installed(name)

    def embedder(self, name: str) -> Any:
        """The ``embedder`` of the [backends.NAME] block ``name`` (its server embeds)."""
        backend = self.backend(name)
        if not hasattr(backend, "embedder"):
            raise WorkbenchError(
                f"The backend '{name}' ({self.settings.backends[name].type}) cannot embed text. "
                "Set `embedder` to an OpenAI-compatible [backends] block or to "
                "minilm-l6-int8 (the built-in one).",
                "Unknown embedder",
            )
        return backend.embedder()

    def _installed(self, name: str) -> Any:
        """The backend (or backend type) a plugin registered as ``name``, created once."""
        if name not in self._backends:
            if name not in self.backend_factories:
                raise WorkbenchError(
                    f"No chat backend named '{name}'. Installed: "
                    f"{', '.join(sorted(self.backend_factories))}. Install the plugin that "
                    "provides it, or pick another model.",
                    title="Unknown backend",
                )
            self._backends[name] = self.backend_factories[name]()
        return self._backends[name]

    def health(self, name: str | None = None, *, check: bool = True) -> list[BackendHealth]:
        """Each configured remote backend (or only ``name``), asked whether it is ready and
        what it serves (``check``; never in offline mode), or only described."""
        configs = self.settings.backends
        if name is not None and name not in configs:
            known = ", ".join(sorted(configs)) or "none: add a [backends.NAME] block to config.toml"
            raise WorkbenchError(f"No backend named '{name}'. Configured: {known}.",
                                 "Unknown backend")  # fmt: skip

        def one(config: BackendConfig) -> BackendHealth:
            installed = config.type in self.backend_factories
            backend = self.backend(config.name) if installed else None
            if check:
                return health.check(config, backend, self.settings.offline)
            return health.describe(config, backend)

        chosen = [config for config in configs.values() if name in (None, config.name)]
        for config in chosen:  # connected here, one at a time; then asked side by side
            if config.type in self.backend_factories:
                self.backend(config.name)
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(chosen)))) as pool:
            return list(pool.map(one, chosen))

    def runtimes(self) -> dict[str, dict[str, Any]]:
        """What each backend says about itself (version, GPU offload, loaded models)."""
        return {name: self._installed(name).describe() for name in self.backend_factories}

    def load(self, name: str | None = None) -> Any:
        """The loaded chat model (loaded once per process, then reused)."""
        return self.loaded(self.model(name))

    def loaded(self, model: ModelInfo, settings: Settings | None = None) -> Any:
        """``model`` loaded by its backend, its calls traced (``telemetry.genai``)."""
        backend = self.backend(model.backend)
        chat = backend.load(model, settings or self.settings)
        held = self._traced.get(id(chat))
        if held is None or held.untraced is not chat:  # the same model, the same wrapper
            held = self._traced[id(chat)] = genai.traced(chat, provider(backend))
        return held

    def sha256(self, model: ModelInfo) -> str | None:
        """The model file's sha256 (cached on disk by path, size and mtime); None for a
        remote model (its weights are the server's)."""
        if model.source == "remote":
            return None
        return file_sha256(model.path, self._hashes_file)


def provider(backend: Any) -> str:
    """The ``gen_ai.provider.name`` of a backend: its type for a [backends.NAME] block
    (openai, kserve), llama.cpp for the local runtime, else the plugin's backend name."""
    config = getattr(backend, "config", None)
    if config is not None:
        return str(config.type)
    return genai.LOCAL_PROVIDER if backend.name == "llama-cpp" else str(backend.name)


def _best_local(models: list[ModelInfo]) -> str:
    """The first usable model of ``packaged.DEFAULT_ORDER``, else the bundled one."""
    usable = {model.name for model in models if not model.error}
    return next((name for name in packaged.DEFAULT_ORDER if name in usable), BUNDLED_NAME)


def _stamp(path: Path) -> tuple[str, int]:
    try:
        return str(path), path.stat().st_mtime_ns
    except OSError:
        return str(path), 0


def _folder_stamps(root: Path, depth: int) -> list[tuple[str, int]]:
    """``root`` and the folders below it to ``depth`` levels, each with its mtime."""
    stamps = [_stamp(root)]
    if depth == 0 or stamps[0][1] == 0:
        return stamps
    try:
        with os.scandir(root) as entries:
            folders = sorted(e.path for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return stamps
    for folder in folders:
        stamps += _folder_stamps(Path(folder), depth - 1)
    return stamps
