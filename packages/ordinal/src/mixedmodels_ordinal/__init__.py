"""mixedmodels-ordinal: cumulative link mixed models (R's ``ordinal::clmm``).

Ordered responses with logit, probit, cloglog, loglog and cauchit links; flexible,
equidistant and symmetric thresholds; random intercepts and slopes, nested and
crossed; the Laplace approximation and adaptive Gauss-Hermite quadrature (one scalar
term).

>>> from mixedmodels_ordinal import clmm
>>> fit = clmm("rating ~ temp + contact + (1 | judge)", wine)  # doctest: +SKIP
>>> print(fit.summary())  # doctest: +SKIP

Installed, it also registers the estimator ``"clmm"`` and the tidiers for
:class:`ClmmResult` (``mm.tidy(fit)`` has broom's ``coef.type`` column).
"""

from __future__ import annotations

from ._estimator import ClmmEstimator, clmm
from ._fit import ClmmConvergenceWarning
from ._links import LINKS
from ._results import ClmmResult
from ._thresholds import THRESHOLDS
from ._tidiers import glance_clmm, tidy_clmm

__version__ = "0.1.0"

__all__ = [
    "LINKS",
    "THRESHOLDS",
    "ClmmConvergenceWarning",
    "ClmmEstimator",
    "ClmmResult",
    "__version__",
    "clmm",
    "glance_clmm",
    "tidy_clmm",
]
