"""Discovery: the entry points of the ``mixedmodels`` group, chosen and loaded.

The built-ins come in as any plugin does, through the ``builtin`` entry point of the
core's ``pyproject.toml``.  Run from a source tree without installed metadata, that entry
point is missing and the built-ins are imported by module name instead
(:data:`~.environment.BUILTIN_MODULE`), as pytest imports its default plugins: the
manager never imports them statically, they sit above it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from .environment import (
    BUILTIN,
    BUILTIN_MODULE,
    CORE_DISTRIBUTION,
    ENTRY_POINT_GROUP,
    ENV_DISABLE,
    ENV_PLUGINS,
    env_names,
)
from .errors import PluginConflictError, warn
from .hooks import new_plugin_manager, register
from .kinds import KINDS, get_kind
from .records import Conflict, PluginInfo
from .registry import Registry, merge

__all__ = ["State", "discover"]


@dataclass
class State:
    """What discovery found: the pluggy manager, every plugin seen, the registries."""

    pm: pluggy.PluginManager
    #: Every plugin seen, loaded or not, in load order.
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    registries: dict[str, Registry] = field(
        default_factory=lambda: {kind: Registry(get_kind(kind)) for kind in KINDS}
    )


@dataclass
class _Candidate:
    info: PluginInfo
    load: Callable[[], Any]


def _load_builtin() -> Any:
    return importlib.import_module(BUILTIN_MODULE)


def _candidates() -> tuple[list[_Candidate], list[Conflict]]:
    """The entry points of the group, builtin first then by name, and name clashes."""
    found: dict[str, _Candidate] = {}
    clashes: list[Conflict] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
            module=ep.value,
        )
        previous = found.get(ep.name)
        if previous is not None:
            # The same distribution seen twice on sys.path: the first one wins, as
            # for imports.  Two distributions declaring one name: ambiguous.
            if previous.info.distribution != info.distribution:
                clashes.append(Conflict("plugin", ep.name, previous.info, info))
            continue
        found[ep.name] = _Candidate(info, ep.load)
    if BUILTIN not in found:
        try:
            version: str | None = metadata.version(CORE_DISTRIBUTION)
        except metadata.PackageNotFoundError:
            version = None
        info = PluginInfo(BUILTIN, CORE_DISTRIBUTION, version, BUILTIN_MODULE)
        found[BUILTIN] = _Candidate(info, _load_builtin)
    ordered = sorted(found.values(), key=lambda c: (c.info.name != BUILTIN, c.info.name))
    return ordered, clashes


def discover() -> State:
    """Load the plugins that the environment selects and fill the registries.

    A plugin that fails to import, whose hook raises or returns what its hook
    specification does not allow, is skipped as a whole with a warning.

    Raises
    ------
    PluginConflictError
        If two plugins register one name in one registry, or two distributions declare
        one entry-point name.
    """
    state = State(new_plugin_manager())
    only = env_names(ENV_PLUGINS)
    disabled = set(env_names(ENV_DISABLE) or [])
    candidates, conflicts = _candidates()
    names = {c.info.name for c in candidates}
    for var, asked in ((ENV_PLUGINS, only or []), (ENV_DISABLE, sorted(disabled))):
        for name in asked:
            if name not in names:
                warn(
                    f"{var} names plugin {name!r}, but no installed entry point has that "
                    f"name; installed: {', '.join(sorted(names))}"
                )
    for cand in candidates:
        info = cand.info
        if info.name in disabled:
            state.plugins[info.name] = info.with_status("disabled", f"disabled by {ENV_DISABLE}")
            continue
        if only is not None and info.name != BUILTIN and info.name not in only:
            state.plugins[info.name] = info.with_status("disabled", f"not listed in {ENV_PLUGINS}")
            continue
        try:
            plugin = cand.load()
            staged = register(state.pm, plugin, info)
        except Exception as exc:  # any failure of third-party code: isolate the plugin
            error = f"{type(exc).__name__}: {exc}"
            state.plugins[info.name] = info.with_status("failed", error)
            warn(
                f"mixedmodels plugin {info.describe()} from {info.module!r} failed to load "
                f"and was skipped, all of its registrations with it: {error}"
            )
            continue
        state.plugins[info.name] = info
        conflicts.extend(merge(state.registries, info, staged))
    if conflicts:
        raise PluginConflictError(conflicts)
    return state
