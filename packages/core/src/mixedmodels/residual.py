"""Residual correlation structures and variance functions (nlme's ``correlation=`` and
``weights=``): the public names.

Implementation: :mod:`mixedmodels.structures.residual`.
"""

from __future__ import annotations

from .structures.residual import *  # noqa: F403  (the names its __all__ lists)
from .structures.residual import __all__ as __all__
