"""The Workbench suite's shared fixtures, for the first-party plugins' tests.

``tests/conftest.py`` at the checkout's root gives every test its own ``WORKBENCH_HOME`` (an
autouse fixture) and shares one real embedder per session. It is loaded here under its own
module name (both files are called ``conftest``) and its fixtures re-exported, so pytest finds
them in this folder too.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import TEST_KEY, llama_server

from workbench.core.answering.models import bundled_model_path

SHARED = Path(__file__).resolve().parents[1] / "tests" / "conftest.py"

_spec = importlib.util.spec_from_file_location("workbench_shared_conftest", SHARED)
assert _spec is not None and _spec.loader is not None, f"missing {SHARED}"
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

workbench_home = _shared.workbench_home
embedder = _shared.embedder
make_workbench = _shared.make_workbench
workbench = _shared.workbench


@pytest.fixture(scope="module")
def openai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real `python -m llama_cpp.server` serving the bundled SmolLM2 as ``smollm2`` behind
    the key ``TEST_KEY``, one per test module: its base URL and its log file."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    try:
        with llama_server(bundled_model_path(), log, api_key=TEST_KEY) as url:
            yield url, log
    except RuntimeError as exc:
        pytest.fail(str(exc))
