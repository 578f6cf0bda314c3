"""mixedmodels-gamm: additive mixed models as R's ``gamm4`` (smooths as random effects).

>>> from mixedmodels_gamm import gamm4
>>> fit = gamm4("y ~ s(x)", data, random="(1 | g)")  # doctest: +SKIP
>>> fit.loglik, fit.smooth_values("s(x)"), fit.fitted()  # doctest: +SKIP
"""

from __future__ import annotations

from ._gamm import GammResult, gamm4
from ._tprs import tprs

__version__ = "0.1.0"

__all__ = ["GammResult", "__version__", "gamm4", "tprs"]
