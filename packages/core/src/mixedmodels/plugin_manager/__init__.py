"""The plugin manager: discovery through entry points, registries, look-up by name.

The public names (``register_plugin``, ``reset_plugins``, ``plugin_status``, the
errors, ...) are re-exported here from :mod:`.manager`; the modules split the work by
concern: :mod:`.environment` (entry-point group, environment variables),
:mod:`.records`, :mod:`.kinds` (the eight registry kinds), :mod:`.errors`,
:mod:`.registry` (one registry type for every kind), :mod:`.hooks` (calls through
pluggy), :mod:`.discovery` and :mod:`.manager` (lazy state, look-ups, listings).
"""

from __future__ import annotations

from .manager import *  # noqa: F403  (the names its __all__ lists)
from .manager import __all__ as __all__
