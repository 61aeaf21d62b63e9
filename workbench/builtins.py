"""Built-in features, registered through the same hooks as any plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from workbench.hookspecs import hookimpl

if TYPE_CHECKING:
    from workbench.core.protocols import Backend, Embedder, Extractor, Tool


@hookimpl
def register_extractors(register: Callable[[Extractor], None]) -> None:
    from workbench.core.extraction.extractors import builtin_extractors
    from workbench.core.extraction.images import ImageExtractor
    from workbench.core.extraction.office import (
        DocxExtractor,
        EpubExtractor,
        PptxExtractor,
        XlsxExtractor,
    )
    from workbench.core.extraction.pdf import PdfExtractor

    # Audio is the workbench-whisper plugin (plugins/workbench-whisper), a distribution of its own.
    extractors: list[Extractor] = [
        *builtin_extractors(),
        PdfExtractor(),
        ImageExtractor(),
        DocxExtractor(),
        PptxExtractor(),
        XlsxExtractor(),
        EpubExtractor(),
    ]
    for extractor in extractors:
        register(extractor)


@hookimpl
def register_embedders(register: Callable[[str, Callable[[], Embedder]], None]) -> None:
    def minilm() -> Embedder:
        from workbench.core.index.embedding import MiniLMEmbedder

        return MiniLMEmbedder()

    register("minilm-l6-int8", minilm)


@hookimpl
def register_backends(register: Callable[[str, Callable[[], Backend]], None]) -> None:
    def llama_cpp() -> Backend:
        from workbench.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend()

    register("llama-cpp", llama_cpp)


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    from workbench.core.agents.tools import BUILTIN_TOOLS

    for tool in BUILTIN_TOOLS:
        register(tool)
