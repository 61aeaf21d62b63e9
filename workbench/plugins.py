"""Builds the plugin manager: built-ins first, then entry points, then loose plugin files."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pluggy

from workbench import hookspecs
from workbench.errors import WorkbenchError

ENTRY_POINT_GROUP = "workbench"
HOOK_NAMES = [
    "register_extractors",
    "register_embedders",
    "register_backends",
    "register_tools",
    "register_commands",
]


def build_plugin_manager(
    plugins_dir: Path | None = None, *, load_entry_points: bool = True
) -> pluggy.PluginManager:
    """The plugin manager with built-ins, installed plugins and loose ``*.py`` plugin files.

    Loose files come from ``plugins_dir`` and from ``$WORKBENCH_PLUGINS_DIR``.
    """
    from workbench import builtins

    manager = pluggy.PluginManager("workbench")
    manager.add_hookspecs(hookspecs)
    manager.register(builtins, name="workbench.builtins")
    if load_entry_points:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    directories = [plugins_dir] if plugins_dir else []
    if os.environ.get("WORKBENCH_PLUGINS_DIR"):
        directories.append(Path(os.environ["WORKBENCH_PLUGINS_DIR"]))
    for directory in directories:
        for module in _load_plugin_files(directory):
            if not manager.is_registered(module):
                manager.register(module, name=module.__name__)
    return manager


def _load_plugin_files(directory: Path) -> Iterable[Any]:
    if not directory.is_dir():
        return
    for file in sorted(directory.glob("*.py")):
        name = f"workbench_plugin_{file.stem}"
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # a broken plugin file must name itself, not crash startup
            raise WorkbenchError(
                f"The plugin file {file} failed to load: {exc!r}. Fix or remove it.",
                title="Plugin error",
            ) from exc
        yield module


def collect_named(
    manager: pluggy.PluginManager, hook_name: str
) -> dict[str, tuple[Callable[[], Any], str]]:
    """Run a ``register(name, factory)`` hook and return ``{name: (factory, plugin_name)}``.

    Raises WorkbenchError when two plugins register the same name, naming both.
    """
    collected: dict[str, tuple[Callable[[], Any], str]] = {}
    hook = getattr(manager.hook, hook_name)
    for impl in hook.get_hookimpls():
        plugin_name = manager.get_name(impl.plugin) or repr(impl.plugin)

        def register(name: str, factory: Callable[[], Any], _owner: str = plugin_name) -> None:
            if name in collected:
                raise WorkbenchError(
                    f"Both plugin '{collected[name][1]}' and plugin '{_owner}' register "
                    f"'{name}' for {hook_name}. Uninstall or disable one of them.",
                    title="Plugin clash",
                )
            collected[name] = (factory, _owner)

        impl.function(register=register)
    return collected


def collect_objects(manager: pluggy.PluginManager, hook_name: str) -> list[tuple[Any, str]]:
    """Run a ``register(obj)`` hook and return ``[(obj, plugin_name)]`` in registration order."""
    collected: list[tuple[Any, str]] = []
    hook = getattr(manager.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):  # pluggy calls last-registered first
        plugin_name = manager.get_name(impl.plugin) or repr(impl.plugin)
        impl.function(register=lambda obj, _owner=plugin_name: collected.append((obj, _owner)))
    return collected


def describe_plugins(manager: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Loaded plugins and the hooks each implements, for ``workbench plugins``."""
    rows = []
    for name, plugin in manager.list_name_plugin():
        hooks = sorted(
            hook_name
            for hook_name in HOOK_NAMES
            if any(
                impl.plugin is plugin for impl in getattr(manager.hook, hook_name).get_hookimpls()
            )
        )
        rows.append({"name": name, "hooks": hooks})
    return rows
