"""Builds the plugin manager: built-ins first, then entry points, then loose plugin files."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from workbench import hookspecs
from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.core.protocols import Embedder, Tool

ENTRY_POINT_GROUP = "workbench"
BUILTINS = "workbench.builtins"
FILE_PREFIX = "workbench_plugin_"  # module name of a loose plugin file: this + the file's stem
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
    manager.register(builtins, name=BUILTINS)
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


def _load_plugin_files(directory: Path) -> Iterable[ModuleType]:
    if not directory.is_dir():
        return
    for file in sorted(directory.glob("*.py")):
        name = f"{FILE_PREFIX}{file.stem}"
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


def create_embedder(manager: pluggy.PluginManager, name: str) -> Embedder:
    """The embedder registered as ``name`` (``embedder`` in config.toml), created now."""
    embedders = collect_named(manager, "register_embedders")
    if name not in embedders:
        raise WorkbenchError(
            f"No embedder named '{name}'. Installed: {', '.join(sorted(embedders))}. "
            "Set `embedder` in config.toml to one of them.",
            title="Unknown embedder",
        )
    embedder: Embedder = embedders[name][0]()
    return embedder


def collect_objects(manager: pluggy.PluginManager, hook_name: str) -> list[tuple[Any, str]]:
    """Run a ``register(obj)`` hook and return ``[(obj, plugin_name)]`` in registration order."""
    collected: list[tuple[Any, str]] = []
    hook = getattr(manager.hook, hook_name)
    # get_hookimpls() lists in registration order (pluggy *calls* them last-registered first):
    # built-ins, then entry points, then files, so a plugin's extractor can replace a built-in.
    for impl in hook.get_hookimpls():
        plugin_name = manager.get_name(impl.plugin) or repr(impl.plugin)
        impl.function(register=lambda obj, _owner=plugin_name: collected.append((obj, _owner)))
    return collected


def collect_tools(manager: pluggy.PluginManager) -> dict[str, tuple[Tool, str]]:
    """Run ``register_tools`` and return ``{tool.name: (tool, plugin_name)}``.

    Raises WorkbenchError when two plugins register a tool of the same name, naming both.
    """
    tools: dict[str, tuple[Tool, str]] = {}
    for tool, owner in collect_objects(manager, "register_tools"):
        if tool.name in tools:
            raise WorkbenchError(
                f"Both plugin '{tools[tool.name][1]}' and plugin '{owner}' register the tool "
                f"'{tool.name}'. Uninstall or disable one of them.",
                title="Plugin clash",
            )
        tools[tool.name] = (tool, owner)
    return tools


def describe_plugins(manager: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Loaded plugins, how each was loaded and the hooks it implements, for `workbench plugins`.

    ``source`` is "builtin", "entry point" (then ``distribution`` and ``version`` name the
    installed package), "file" (then ``path`` is the plugin file) or "registered" (by code, with
    ``manager.register``).
    """
    distributions = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    rows = []
    for name, plugin in manager.list_name_plugin():
        hooks = sorted(
            hook_name
            for hook_name in HOOK_NAMES
            if any(
                impl.plugin is plugin for impl in getattr(manager.hook, hook_name).get_hookimpls()
            )
        )
        row: dict[str, Any] = {"name": name, "hooks": hooks}
        if name == BUILTINS:
            row |= {"source": "builtin", "distribution": "workbench", "version": _version()}
        elif id(plugin) in distributions:
            dist = distributions[id(plugin)]
            row |= {
                "source": "entry point",
                "distribution": dist.metadata["Name"],
                "version": dist.version,
            }
        elif name.startswith(FILE_PREFIX):
            path = getattr(plugin, "__file__", None)
            row |= {"source": "file", "distribution": None, "version": None, "path": path}
        else:  # registered by code in this process (tests, embedding applications)
            row |= {"source": "registered", "distribution": None, "version": None}
        rows.append(row)
    return rows


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("workbench")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return None
