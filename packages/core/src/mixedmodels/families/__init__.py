"""Response distributions and link functions.

:mod:`.distributions` holds the families, :mod:`.links` the links; both register
through the core's built-in plugin."""

from __future__ import annotations

from . import distributions, links
from .distributions import *  # noqa: F403
from .links import *  # noqa: F403

__all__ = [*distributions.__all__, *links.__all__]
