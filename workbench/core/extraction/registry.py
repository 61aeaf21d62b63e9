"""Which extractor handles which file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.extraction.compressed import OPENERS, TEXT_KINDS, CompressedExtractor
from workbench.core.extraction.documents import EngineStatus
from workbench.errors import WorkbenchError

DEFAULT_MAX_BYTES = 25 * 2**20  # until configure() hands over the user's max_file_mb

# Known binary formats: skipped without reading a byte. Kinds that a later extractor
# handles (PDF, images, office, audio through a plugin) are simply registered by it instead.
BINARY_SUFFIXES = frozenset(
    ".pdf .png .jpg .jpeg .gif .tif .tiff .webp .bmp .ico .heic .svgz .mp3 .wav .m4a .flac .ogg "
    ".opus .aac .mp4 .mov .avi .mkv .webm .zip .gz .tgz .bz2 .xz .7z .rar .tar .zst .exe .dll .so "
    ".dylib .bin .o .a .class .jar .whl .pyc .pyd .db .sqlite .sqlite3 .parquet .lance .arrow "
    ".npy .npz .pt .pth .onnx .gguf .safetensors .ttf .otf .woff .woff2 .iso .dmg .docx .xlsx "
    ".pptx .doc .xls .ppt .odt .epub .psd .ai .sketch .blend".split()
)


@dataclass(frozen=True)
class OptionalPlugin:
    """A first-party plugin shipped as its own distribution (under plugins/).

    When it is not installed, its files are skipped with a reason that says what to install, and
    `workbench doctor` lists its engine as missing, with the files that need it.
    """

    distribution: str
    engine: str
    role: str
    suffixes: frozenset[str]
    skipped: str  # what a person loses, e.g. "audio is not transcribed"

    @property
    def install(self) -> str:
        return (
            f"install {self.distribution} with its dependencies: "
            f"`pip install ./plugins/{self.distribution}` from a Workbench checkout "
            "(in a checkout, `uv sync` installs it)"
        )

    def reason(self) -> str:
        return f"{self.skipped}: the {self.distribution} plugin is not installed; {self.install}"

    def status(self) -> EngineStatus:
        detail = f"the {self.distribution} plugin is not installed"
        return EngineStatus(self.engine, self.role, False, detail, self.install, self.distribution)


OPTIONAL_PLUGINS = (
    OptionalPlugin(
        "workbench-whisper",
        "whisper",
        "speech to text for audio files",
        frozenset(".wav .mp3 .m4a .flac .ogg .opus".split()),
        "audio is not transcribed",
    ),
)


class ExtractorRegistry:
    """Maps a file to its extractor by file name, then by suffix."""

    def __init__(self, extractors: Sequence[tuple[Any, str]]) -> None:
        self.extractors = [extractor for extractor, _ in extractors]
        self._by_suffix: dict[str, Any] = {}
        self._by_filename: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for extractor, plugin in extractors:
            for key, table in [(s, self._by_suffix) for s in extractor.suffixes] + [
                (f, self._by_filename) for f in extractor.filenames
            ]:
                # A plugin may override a built-in on purpose; two plugins may not clash.
                if key in table and owners[key] not in (plugin, "workbench.builtins"):
                    raise WorkbenchError(
                        f"Both plugin '{owners[key]}' and plugin '{plugin}' register an "
                        f"extractor for '{key}'. Uninstall or disable one of them.",
                        title="Plugin clash",
                    )
                table[key] = extractor
                owners[key] = plugin
        self._fallback = self._by_suffix.get("")
        self._max_bytes = DEFAULT_MAX_BYTES

    def configure(self, settings: Any, paths: Any) -> None:
        """Hand the user's settings and paths to every extractor that takes them."""
        self._max_bytes = settings.max_file_bytes
        for extractor in self.extractors:
            configure = getattr(extractor, "configure", None)
            if callable(configure):
                configure(settings, paths)

    def engines(self) -> list[Any]:
        """The optional engines the extractors depend on (OCR, speech), deduplicated by name.

        An optional plugin that is not installed shows as its engine, missing.
        """
        found: dict[str, Any] = {}
        for extractor in self.extractors:
            for engine in getattr(extractor, "engines", lambda: [])():
                found.setdefault(engine.name, engine)
        for plugin in self._missing_plugins():
            found.setdefault(plugin.engine, plugin.status())
        return list(found.values())

    def _missing_plugins(self) -> list[OptionalPlugin]:
        return [p for p in OPTIONAL_PLUGINS if not p.suffixes & self._by_suffix.keys()]

    def for_path(self, path: str) -> tuple[Any | None, str | None]:
        """(extractor, None), or (None, reason) when no extractor handles the file."""
        name = Path(path).name
        if name in self._by_filename:
            return self._by_filename[name], None
        suffix = Path(path).suffix.lower()
        if suffix in self._by_suffix:
            return self._by_suffix[suffix], None
        if suffix in OPENERS:
            return self._compressed(path, suffix)
        for plugin in OPTIONAL_PLUGINS:
            if suffix in plugin.suffixes:
                return None, plugin.reason()
        if suffix in BINARY_SUFFIXES:
            return None, f"no extractor for {suffix} files yet"
        # Unknown suffixes are tried as plain text; binary content is refused on reading.
        return self._fallback, None if self._fallback else f"no extractor for {suffix} files"

    def _compressed(self, path: str, suffix: str) -> tuple[Any | None, str | None]:
        """A compressed text file is read by the extractor of its name without ``suffix``."""
        inner_path = path[: -len(suffix)]
        inner, _ = self.for_path(inner_path)
        inner_suffix = Path(inner_path).suffix.lower()
        if inner is None or getattr(inner, "kind", None) not in TEXT_KINDS:
            return None, f"no extractor for {inner_suffix}{suffix} files yet"
        return CompressedExtractor(inner, suffix, self._max_bytes), None
