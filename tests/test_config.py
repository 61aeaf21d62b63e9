from __future__ import annotations

from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.errors import WorkbenchError


def test_file_then_env_override(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('max_file_mb = 5\nignore = ["*.bak"]\nsearch_k = 7\n')
    settings = Settings.load(
        config, {"WORKBENCH_SEARCH_K": "3", "WORKBENCH_IGNORE": "*.tmp, build"}
    )
    assert settings.max_file_mb == 5
    assert settings.search_k == 3
    assert settings.ignore == ["*.tmp", "build"]


def test_bad_config_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("max_file_mb = \n")
    with pytest.raises(WorkbenchError, match="not valid TOML"):
        Settings.load(config, {})
    config.write_text("colour = 'blue'\n")
    with pytest.raises(WorkbenchError, match="Unknown setting"):
        Settings.load(config, {})
