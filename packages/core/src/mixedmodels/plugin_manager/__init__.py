"""The plugin manager: discovery through entry points, registries, look-up by name.

The public names (``register_plugin``, ``reset_plugins``, ``plugin_status``, the
errors, ...) are re-exported here from :mod:`.manager`; the modules split the work by
concern: :mod:`.environment` (entry-point group, environment variables),
:mod:`.records`, :mod:`.kinds` (the eight registry kinds), :mod:`.errors`,
:mod:`.registry` (one registry type for every kind), :mod:`.hooks` (calls through
pluggy), :mod:`.discovery` and :mod:`.manager` (lazy state, look-ups, listings).
"""

from __future__ import annotations

from .manager import (
    ENTRY_POINT_GROUP,
    ENV_DISABLE,
    ENV_PLUGINS,
    KINDS,
    KNOWN_PROVIDERS,
    MixedModelsPluginWarning,
    PluginConflictError,
    PluginInfo,
    Registration,
    UnknownNameError,
    format_plugins,
    get_covariance_structure,
    get_dataset,
    get_diagnostic,
    get_estimator,
    get_family,
    get_formatter,
    get_link,
    get_registration,
    get_tidier,
    lookup,
    plugin_status,
    plugins,
    register_plugin,
    registry,
    reset_plugins,
    unregister_plugin,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_DISABLE",
    "ENV_PLUGINS",
    "KINDS",
    "KNOWN_PROVIDERS",
    "MixedModelsPluginWarning",
    "PluginConflictError",
    "PluginInfo",
    "Registration",
    "UnknownNameError",
    "format_plugins",
    "get_covariance_structure",
    "get_dataset",
    "get_diagnostic",
    "get_estimator",
    "get_family",
    "get_formatter",
    "get_link",
    "get_registration",
    "get_tidier",
    "lookup",
    "plugin_status",
    "plugins",
    "register_plugin",
    "registry",
    "reset_plugins",
    "unregister_plugin",
]
