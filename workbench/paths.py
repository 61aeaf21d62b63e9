"""Where Workbench keeps its config, data and caches.

Everything lives under ``WORKBENCH_HOME`` when it is set (tests and portable installs);
otherwise under the platform's usual directories (platformdirs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "workbench"


@dataclass(frozen=True)
class Paths:
    """The directories and files Workbench reads and writes."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def db_dir(self) -> Path:
        return self.data_dir / "library.lancedb"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "write.lock"

    @property
    def plugins_dir(self) -> Path:
        return self.config_dir / "plugins"

    @property
    def models_dir(self) -> Path:
        """GGUF files put here are listed by `workbench models list`."""
        return self.data_dir / "models"

    @property
    def models_state_file(self) -> Path:
        """The default chat model and the model files added with `workbench models add`."""
        return self.data_dir / "models.json"

    def as_dict(self) -> dict[str, str]:
        return {
            "config_file": str(self.config_file),
            "config_dir": str(self.config_dir),
            "data_dir": str(self.data_dir),
            "library_db": str(self.db_dir),
            "cache_dir": str(self.cache_dir),
            "plugins_dir": str(self.plugins_dir),
            "models_dir": str(self.models_dir),
        }

    def ensure(self) -> None:
        for directory in (self.config_dir, self.data_dir, self.cache_dir, self.models_dir):
            directory.mkdir(parents=True, exist_ok=True)


def resolve_paths(home: str | os.PathLike[str] | None = None) -> Paths:
    """Paths under ``home``, ``$WORKBENCH_HOME`` or the platform directories, in that order."""
    home = home or os.environ.get("WORKBENCH_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(config_dir=root / "config", data_dir=root / "data", cache_dir=root / "cache")
    import platformdirs

    return Paths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
        cache_dir=Path(platformdirs.user_cache_dir(APP_NAME)),
    )


def demo_library() -> Path:
    """The bundled demo library (in the wheel, or in the source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "assets" / "demo", here.parent / "assets" / "demo"):
        if candidate.is_dir():
            return candidate
    from workbench.errors import WorkbenchError

    raise WorkbenchError(
        "The bundled demo library is missing. Reinstall Workbench.", "Demo missing"
    )
