"""Workbench plugin: audio recordings transcribed on the CPU by faster-whisper.

Loaded through the ``workbench`` entry point group. The extractor module is imported only when
the hook runs, so listing plugins or `workbench --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.core.protocols import Extractor
from workbench.hookspecs import hookimpl

__all__ = ["register_extractors"]


@hookimpl
def register_extractors(register: Callable[[Extractor], None]) -> None:
    """Register the audio extractor (``.wav .mp3 .m4a .flac .ogg .opus``)."""
    from workbench_whisper.audio import AudioExtractor

    register(AudioExtractor())
