"""The model registry: GGUF headers read without loading, caches found, default remembered."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core.answering.gguf import format_params, read_header, read_header_parts
from workbench.core.answering.models import BUNDLED_NAME, bundled_model_path, file_sha256
from workbench.core.answering.packaged import PACKAGED_MODELS, installed_parts
from workbench.errors import WorkbenchError

runner = CliRunner()


def run(workbench: Any, *args: str) -> Any:
    return runner.invoke(build_cli(), list(args), obj=workbench, catch_exceptions=False)


def write_gguf(
    path: Path,
    *,
    arch: str = "qwen2",
    context: int = 32768,
    file_type: int = 15,
    shapes: tuple[tuple[int, ...], ...] = ((896, 151936), (896, 896)),
) -> Path:
    """A small but well-formed GGUF v3 header (metadata and tensor infos, no weights)."""

    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    metadata = [
        (b"general.architecture", 8, string(arch)),
        (f"{arch}.context_length".encode(), 4, struct.pack("<I", context)),
        (b"general.file_type", 4, struct.pack("<I", file_type)),
        # a long string array, like a vocabulary: skipped, not kept
        (b"tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 40) + b"".join(
            string(f"tok{i}") for i in range(40))),
    ]  # fmt: skip
    body = b"GGUF" + struct.pack("<IQQ", 3, len(shapes), len(metadata))
    for key, kind, value in metadata:
        body += string(key.decode()) + struct.pack("<I", kind) + value
    for index, shape in enumerate(shapes):
        body += string(f"blk.{index}.weight") + struct.pack("<I", len(shape))
        body += b"".join(struct.pack("<Q", dim) for dim in shape) + struct.pack("<IQ", 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body + b"\0" * 64)
    return path


def test_bundled_model_header_without_loading() -> None:
    header = read_header(bundled_model_path())
    assert header.arch == "llama"
    assert header.quantization == "Q4_1"
    assert header.context_length == 8192
    assert 134_000_000 < header.params < 136_000_000 and format_params(header.params) == "135M"
    assert "<|im_start|>" in (header.chat_template or "")
    assert header.metadata["tokenizer.ggml.tokens"]["length"] == 49152  # skipped, not read


def test_header_of_a_written_gguf_and_bad_files(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "tiny.gguf", shapes=((4, 5), (3,)))
    header = read_header(path)
    assert (header.arch, header.context_length, header.quantization) == ("qwen2", 32768, "Q4_K_M")
    assert header.params == 4 * 5 + 3
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(WorkbenchError, match="not a GGUF model file"):
        read_header(not_gguf)
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(path.read_bytes()[:40])
    with pytest.raises(WorkbenchError, match="damaged or truncated"):
        read_header(truncated)


def test_header_read_across_parts(tmp_path: Path) -> None:
    whole = write_gguf(tmp_path / "whole.gguf", shapes=((4, 5), (3,), (7, 7)))
    data = whole.read_bytes()
    cuts = [0, 30, 31, 200, len(data)]  # part 2 is one byte; the header spans parts 1-4
    parts = []
    for n, (start, end) in enumerate(zip(cuts, cuts[1:], strict=False), 1):
        parts.append(tmp_path / f"part{n:02d}.bin")
        parts[-1].write_bytes(data[start:end])
    expected = read_header(whole)
    assert read_header_parts(parts) == expected
    assert read_header_parts(parts, first_read=16) == expected  # grows as the header needs
    with pytest.raises(WorkbenchError, match="damaged or truncated"):
        read_header_parts(parts[:2], first_read=16)
    with pytest.raises(WorkbenchError, match="does not start a GGUF"):
        read_header_parts(parts[1:])


def fake_caches(home: Path) -> dict[str, Path]:
    """GGUFs where LM Studio, Ollama and Hugging Face keep them."""
    lmstudio = write_gguf(home / ".lmstudio/models/bartowski/Phi/Phi-3.5-mini-Q4_K_M.gguf")
    write_gguf(home / ".lmstudio/models/bartowski/Phi/mmproj-Phi-f16.gguf", arch="clip")
    hub = home / ".cache/huggingface/hub/models--Qwen--Qwen2.5-0.5B-Instruct-GGUF"
    digest = "ab" * 32
    blob = write_gguf(hub / "blobs" / digest, context=4096)
    snapshot = hub / "snapshots/0123abcd/qwen2.5-0.5b-instruct-q4_k_m.gguf"
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(blob)
    ollama = home / ".ollama/models"
    ollama_blob = write_gguf(ollama / "blobs" / f"sha256-{'cd' * 32}", arch="gemma3", file_type=7)
    manifest = ollama / "manifests/registry.ollama.ai/library/gemma3/1b"
    manifest.parent.mkdir(parents=True)
    layer = {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{'cd' * 32}"}
    manifest.write_text(json.dumps({"layers": [layer]}))
    return {"lmstudio": lmstudio, "huggingface": snapshot, "ollama": ollama_blob}


def test_models_list_finds_every_source(
    workbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(home))
    for name in ("OLLAMA_MODELS", "HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    paths = fake_caches(home)
    write_gguf(workbench.paths.models_dir / "mistral-7b-q8_0.gguf", arch="llama", file_type=7)

    result = run(workbench, "models", "list", "--json")
    assert result.exit_code == 0, result.output
    models = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    packaged = {spec.name for spec in PACKAGED_MODELS if any(installed_parts(spec))}
    assert set(models) == {
        BUNDLED_NAME, "mistral-7b-q8_0", "Phi-3.5-mini-Q4_K_M", "gemma3:1b",
        "qwen2.5-0.5b-instruct-q4_k_m", *packaged,
    }  # fmt: skip
    assert "qwen2.5-coder-0.5b-instruct" in packaged  # the dev group installs its parts
    bundled = models[BUNDLED_NAME]
    assert set(bundled) >= {"name", "path", "arch", "params", "quant", "context", "size", "default"}
    assert bundled["default"] is True and bundled["quant"] == "Q4_1"
    assert bundled["size"] == bundled_model_path().stat().st_size
    assert models["gemma3:1b"]["arch"] == "gemma3" and models["gemma3:1b"]["quant"] == "Q8_0"
    assert models["gemma3:1b"]["path"] == str(paths["ollama"])
    assert models["qwen2.5-0.5b-instruct-q4_k_m"]["context"] == 4096
    assert models["Phi-3.5-mini-Q4_K_M"]["source"] == "lmstudio"  # mmproj files are not listed
    assert not any(m["default"] for name, m in models.items() if name != BUNDLED_NAME)
    assert file_sha256(paths["huggingface"]) == "ab" * 32  # blob names are their hashes

    table = run(workbench, "models", "list")
    assert "gemma3:1b" in table.stdout and "135M" in table.stdout


def test_models_use_persists_and_add_registers(
    make_workbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKBENCH_CHAT_MODEL")  # no chat_model setting: `models use` decides
    workbench = make_workbench(chat_model="")
    external = write_gguf(tmp_path / "elsewhere" / "Llama-3.2-1B-Instruct-Q4_K_M.gguf")
    added = run(workbench, "models", "add", str(external), "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["name"] == "Llama-3.2-1B-Instruct-Q4_K_M"
    assert external.exists() and not any(workbench.paths.models_dir.iterdir())  # not copied

    assert run(workbench, "models", "use", "llama-3.2-1b-instruct-q4_k_m").exit_code == 0
    from workbench.workbench import Workbench

    fresh = Workbench(workbench.paths)  # a later run sees the choice
    assert fresh.model().name == "Llama-3.2-1B-Instruct-Q4_K_M"
    defaults = [m.name for m in fresh.models() if m.default]
    assert defaults == ["Llama-3.2-1B-Instruct-Q4_K_M"]

    unknown = run(workbench, "models", "use", "gpt-5")
    assert unknown.exit_code == 1
    assert "No model named 'gpt-5'" in unknown.stderr and BUNDLED_NAME in unknown.stderr
    not_model = tmp_path / "notes.txt"
    not_model.write_text("text")
    refused = run(workbench, "models", "add", str(not_model))
    assert refused.exit_code == 1 and "not a GGUF model file" in refused.stderr


def test_sha256_is_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    model = write_gguf(tmp_path / "m.gguf")
    cache = tmp_path / "hashes.json"
    first = file_sha256(model, cache)
    import hashlib

    assert first == hashlib.sha256(model.read_bytes()).hexdigest()
    assert first in cache.read_text()
    with model.open("ab") as handle:
        handle.write(b"changed")
    os.utime(model, ns=(1, 1))
    assert file_sha256(model, cache) != first


def test_paths_show_the_models_folder(workbench: Any, workbench_home: Path) -> None:
    paths = json.loads(run(workbench, "paths", "--json").stdout)
    assert paths["models_dir"].startswith(str(workbench_home))
    assert Path(paths["models_dir"]).is_dir()


def test_chat_settings_from_file_and_env(tmp_path: Path) -> None:
    from workbench.config import Settings

    config = tmp_path / "config.toml"
    config.write_text('chat_model = "qwen"\ngpu_layers = 20\ncontext_size = 2048\n')
    settings = Settings.load(config, {"WORKBENCH_THREADS": "4"})
    assert (settings.chat_model, settings.gpu_layers, settings.threads) == ("qwen", 20, 4)
    assert Settings.load(config, {"WORKBENCH_GPU_LAYERS": "auto"}).gpu_layers == "auto"
    with pytest.raises(
        WorkbenchError, match='gpu_layers = .all. .* is not "auto" or a whole number'
    ):
        Settings.load(config, {"WORKBENCH_GPU_LAYERS": "all"})
