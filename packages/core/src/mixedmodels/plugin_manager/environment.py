"""Where plugins come from: the entry-point group and the variables that select them."""

from __future__ import annotations

import os

__all__ = [
    "BUILTIN",
    "BUILTIN_MODULE",
    "CORE_DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "ENV_DISABLE",
    "ENV_PLUGINS",
    "env_names",
]

#: Entry-point group that plugins declare in ``[project.entry-points.mixedmodels]``.
ENTRY_POINT_GROUP = "mixedmodels"
#: Comma-separated entry-point names to load (unset: all).
ENV_PLUGINS = "MIXEDMODELS_PLUGINS"
#: Comma-separated entry-point names not to load.
ENV_DISABLE = "MIXEDMODELS_DISABLE_PLUGINS"

#: Entry-point name of the core's own plugin, always loaded unless disabled.
BUILTIN = "builtin"
#: The module that implements it.  Held as a string and imported by name, as pytest
#: loads its default plugins: the plugin manager sits below the built-ins (which import
#: every estimator) and never imports them statically.
BUILTIN_MODULE = "mixedmodels._builtin"
#: The distribution that provides the built-ins.
CORE_DISTRIBUTION = "mixedmodels"


def env_names(var: str) -> list[str] | None:
    """Return the comma-separated names in environment variable ``var``.

    ``None`` when the variable is unset; an empty list when it is set but names nothing.
    """
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]
