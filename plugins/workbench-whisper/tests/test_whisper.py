"""Audio: real speech transcribed by the shipped Whisper model, with time ranges.

The Workbench in these tests is built the normal way (``Workbench(paths, settings)``), so the
plugin is found through its ``workbench`` entry point, as a user's installation finds it. The
recording (tests/data/budget-memo.wav, 5 s, 16 kHz mono) was made once with espeak-ng saying
SPEECH, so the tests need no speech synthesiser.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from workbench_whisper.audio import PLUGIN

from workbench.plugins import collect_objects, describe_plugins
from workbench.presentation import format_locator
from workbench.workbench import Workbench

SPEECH = "The budget meeting moved to Thursday afternoon. Please bring the cedar samples."
RECORDING = Path(__file__).parent / "data" / "budget-memo.wav"


def spoken_wav(path: Path) -> Path:
    """A copy of the committed recording of SPEECH at ``path``."""
    shutil.copyfile(RECORDING, path)
    return path


def test_the_extractor_comes_from_the_entry_point(workbench: Workbench) -> None:
    (row,) = [row for row in describe_plugins(workbench.plugins) if row["name"] == "whisper"]
    assert row["source"] == "entry point" and row["distribution"] == PLUGIN
    assert row["hooks"] == ["register_extractors"]
    extractors = collect_objects(workbench.plugins, "register_extractors")
    assert {e.name: owner for e, owner in extractors}["audio"] == "whisper"


def test_spoken_wav_is_found_with_its_time_range(workbench: Workbench, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    wav = spoken_wav(folder / "memo.wav")
    workbench.add_folder(folder)
    assert workbench.ingest().as_json()["files"]["new"] == 1
    hit = workbench.search("when is the budget meeting", k=1)[0]
    assert (hit.path, hit.kind) == (str(wav), "audio")
    assert "budget meeting" in hit.text.lower() and "thursday" in hit.text.lower()
    start, end = hit.locator["time"]
    details = json.loads(workbench.library.store.file_records()[str(wav)].meta)
    assert 0 <= start < end <= details["duration_s"] + 0.5
    assert format_locator(hit.locator) == f"0:{int(start):02d}-0:{int(end):02d}"


def test_damaged_and_truncated_audio_fail_with_reasons(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "noise.mp3").write_bytes(b"ID3" + bytes(range(256)) * 8)
    whole = RECORDING.read_bytes()
    (folder / "cut.wav").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.txt").write_text("Tuning the cello before the recital.", encoding="utf-8")
    workbench.add_folder(folder)
    report = workbench.ingest().as_json()
    reasons = {Path(p["path"]).name: p["reason"] for p in report["problems"]}
    assert "damaged or unreadable audio" in reasons["noise.mp3"]
    assert reasons["cut.wav"].startswith("truncated WAV")
    assert report["files"]["new"] == 1  # the sync went on to the text file
    failed = {Path(row["path"]).name for row in workbench.status().as_json()["failed"]}
    assert failed == set(reasons)


def test_without_faster_whisper_files_are_skipped_naming_the_plugin(
    make_workbench: Workbench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Python does when a package is absent: find_spec answers None for it.
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    workbench = make_workbench()
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "call.wav").write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    workbench.add_folder(folder)
    report = workbench.ingest().as_json()
    assert report["files"]["skipped"] == 1
    reason = report["problems"][0]["reason"]
    assert reason.startswith("audio is not transcribed: faster-whisper is not installed")
    assert f"pip install ./plugins/{PLUGIN}" in reason
    whisper = next(e for e in workbench.doctor().as_json()["engines"] if e["name"] == "whisper")
    assert not whisper["available"] and whisper["affected"] == [str(folder / "call.wav")]
    record = workbench.library.store.file_records()[str(folder / "call.wav")]
    assert record.extractor_version.endswith("+no-whisper")  # installing it later redoes them
