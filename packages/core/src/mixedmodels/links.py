"""Public names of the built-in link functions.

Implementation: :mod:`mixedmodels.families.links`.
"""

from __future__ import annotations

from .families.links import *  # noqa: F403  (the names its __all__ lists)
from .families.links import __all__ as __all__
