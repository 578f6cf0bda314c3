"""Registering a plugin with pluggy and calling its hooks.

The hooks are called through pluggy's hook caller, ``pm.hook.<name>()``, but for one
plugin at a time: each plugin is called through a :class:`pluggy.PluginManager` that
holds only that plugin.  One ``pm.hook.<name>()`` over all plugins could not keep the
isolation rules: the first exception would abort the call for every plugin without
saying whose it was, and its list of results drops ``None`` and so does not say which
plugin returned which value.  ``pm.subset_hook_caller`` would restrict the call too, but
it puts the other plugins in a set, which fails for unhashable plugin objects such as a
:class:`types.SimpleNamespace` given to ``register_plugin``.
"""

from __future__ import annotations

from typing import Any

import pluggy

from .. import hookspec
from .errors import warn
from .kinds import KIND_BY_HOOK, KINDS, get_kind, validate
from .records import PluginInfo

__all__ = ["Staged", "new_plugin_manager", "register"]

#: What one plugin's hooks returned, validated: ``{kind: [(name, object), ...]}``.
Staged = dict[str, list[tuple[str, Any]]]


def new_plugin_manager() -> pluggy.PluginManager:
    """Return a :class:`pluggy.PluginManager` that knows the mixedmodels hooks."""
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    return pm


def register(pm: pluggy.PluginManager, plugin: object, info: PluginInfo) -> Staged:
    """Register ``plugin`` with pluggy and return what its hooks provide.

    Raises whatever registration, a hook or the validation of its return value raises;
    the plugin is then unregistered again, so nothing of it stays.
    """
    pm.register(plugin, name=info.name)
    try:
        callers = pm.get_hookcallers(plugin) or []
        unknown = [c.name for c in callers if c.name not in KIND_BY_HOOK]
        if unknown:
            warn(
                f"mixedmodels plugin {info.describe()} implements unknown hooks "
                f"{', '.join(sorted(unknown))}; they are ignored (a typo, or a plugin "
                "for a newer mixedmodels?)"
            )
        if not callers:
            warn(
                f"mixedmodels plugin {info.describe()} implements no hooks "
                "(did you forget the @hookimpl decorator?)"
            )
        return _collect(plugin, info.name)
    except BaseException:
        pm.unregister(plugin, name=info.name)
        raise


def _collect(plugin: object, name: str) -> Staged:
    """Call every hook of ``plugin``, through a plugin manager of its own, and validate."""
    own = new_plugin_manager()
    own.register(plugin, name=name)
    staged: Staged = {}
    for kind in map(get_kind, KINDS):
        # A list of the non-None results: at most this plugin's one value.
        for value in getattr(own.hook, kind.hook)():
            staged.setdefault(kind.name, []).extend(validate(kind, value))
    return staged
