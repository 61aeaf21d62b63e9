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


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        (
            'max_file_mb = "lots"\n',
            {},
            r"max_file_mb = 'lots' \(in .*config.toml\) is not a number",
        ),
        ("", {"WORKBENCH_MAX_FILE_MB": "abc"}, r"WORKBENCH_MAX_FILE_MB\) is not a number"),
        ("search_k = 2.5\n", {}, r"search_k = 2.5 .* is not a whole number"),
        ("follow_symlinks = 3\n", {}, r"follow_symlinks = 3 .* is not true or false"),
        ("", {"WORKBENCH_FOLLOW_SYMLINKS": "maybe"}, r"is not true or false"),
        ("ignore = [1, 2]\n", {}, r"ignore = \[1, 2\] .* is not a list of strings"),
        ("max_file_mb = -1\n", {}, r"max_file_mb must be positive\. It was set in .*config.toml"),
        ("", {"WORKBENCH_CHUNK_TOKENS": "4"}, r"It was set from the environment variable"),
        ("", {"WORKBENCH_MAX_FILE_MB": "nan"}, r"is not a number"),
    ],
)
def test_bad_values_name_the_setting_and_where_it_came_from(
    tmp_path: Path, toml: str, env: dict[str, str], expected: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(toml)
    with pytest.raises(WorkbenchError, match=expected) as caught:
        Settings.load(config, env)
    assert caught.value.title == "Bad config"


def test_numbers_and_booleans_in_the_usual_spellings(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('max_file_mb = "12.5"\nsearch_k = 4.0\nfollow_symlinks = false\n')
    settings = Settings.load(
        config, {"WORKBENCH_RRF_K": " 30 ", "WORKBENCH_SCAN_MODEL_CACHES": "no"}
    )
    assert (settings.max_file_mb, settings.search_k, settings.rrf_k) == (12.5, 4, 30)
    assert settings.follow_symlinks is False and settings.scan_model_caches is False


def test_bad_settings_reach_the_cli_as_a_message(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "workbench"
    env = dict(os.environ, WORKBENCH_HOME=str(tmp_path), WORKBENCH_MAX_FILE_MB="abc")
    result = subprocess.run([str(exe), "status"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "WORKBENCH_MAX_FILE_MB" in result.stderr and "not a number" in result.stderr


def test_backend_blocks_are_read_and_checked(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'offline = true\n\n[backends.gpu]\ntype = "openai"\n'
        'base_url = "http://127.0.0.1:8000/v1"\nmodel = "smollm2"\n'
        'api_key_env = "GPU_API_KEY"\ntimeout_s = 30\nmax_retries = 3\nfallback = "local"\n'
    )
    settings = Settings.load(config, {})
    assert settings.offline is True
    gpu = settings.backends["gpu"]
    assert (gpu.type, gpu.base_url, gpu.model, gpu.api_key_env) == (
        "openai",
        "http://127.0.0.1:8000/v1",
        "smollm2",
        "GPU_API_KEY",
    )
    assert (gpu.timeout_s, gpu.connect_timeout_s, gpu.max_retries, gpu.fallback) == (
        30,
        5.0,
        3,
        "local",
    )
    assert Settings.load(config, {"WORKBENCH_OFFLINE": "no"}).offline is False


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ('type = "openai"\nbase_url = "http://h"\napi_key = "sk-123"', "Keys are never written"),
        ('type = "openai"', "needs base_url"),
        ('type = "openai"\nbase_url = "ftp://h"', "must start with http"),
        ('type = "openai"\nbase_url = "http://h"\ntimeout_s = 0', "timeout_s must be"),
        ('type = "openai"\nbase_url = "http://h"\nmax_retries = 99', "max_retries must be"),
        ('type = "openai"\nbase_url = "http://h"\nurl = "x"', r"unknown key\(s\) url"),
        ('type = "openai"\nbase_url = "http://h"\nfallback = "nowhere"', 'must be "local"'),
        ('type = "openai"\nbase_url = "http://h"\nfallback = "gpu"', 'must be "local"'),
    ],
)
def test_bad_backend_blocks_are_explained(tmp_path: Path, block: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[backends.gpu]\n{block}\n")
    with pytest.raises(WorkbenchError, match=message) as caught:
        Settings.load(config, {})
    assert "[backends.gpu]" in str(caught.value) and "sk-123" not in str(caught.value)


def test_a_backend_block_cannot_take_the_local_models_name(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[backends.local]\ntype = "openai"\nbase_url = "http://h"\n')
    with pytest.raises(WorkbenchError, match="names the local model"):
        Settings.load(config, {})
