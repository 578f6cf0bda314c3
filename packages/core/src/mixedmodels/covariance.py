"""Public names of the built-in covariance structures.

Implementation: :mod:`mixedmodels.structures.covariance`.
"""

from __future__ import annotations

from .structures.covariance import *  # noqa: F403  (the names its __all__ lists)
from .structures.covariance import __all__ as __all__
