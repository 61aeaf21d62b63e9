"""Built-in features, registered through the same hooks as any plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.hookspecs import hookimpl


@hookimpl
def register_extractors(register: Callable[[Any], None]) -> None:
    from workbench.core.extraction.audio import AudioExtractor
    from workbench.core.extraction.extractors import builtin_extractors
    from workbench.core.extraction.images import ImageExtractor
    from workbench.core.extraction.office import (
        DocxExtractor,
        EpubExtractor,
        PptxExtractor,
        XlsxExtractor,
    )
    from workbench.core.extraction.pdf import PdfExtractor

    files = [PdfExtractor(), ImageExtractor(), AudioExtractor()]
    office = [DocxExtractor(), PptxExtractor(), XlsxExtractor(), EpubExtractor()]
    for extractor in [*builtin_extractors(), *files, *office]:
        register(extractor)


@hookimpl
def register_embedders(register: Callable[[str, Callable[[], Any]], None]) -> None:
    def minilm() -> Any:
        from workbench.core.index.embedding import MiniLMEmbedder

        return MiniLMEmbedder()

    register("minilm-l6-int8", minilm)


@hookimpl
def register_backends(register: Callable[[str, Callable[[], Any]], None]) -> None:
    def llama_cpp() -> Any:
        from workbench.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend()

    register("llama-cpp", llama_cpp)
