"""mixedmodels-gee: generalized estimating equations for mixedmodels.

Parity with R's geepack (``geeglm``: estimates, robust and naive variances, working
correlation parameters, scale, their standard errors, the approximate jackknife,
``anova`` and ``QIC``) and geesmv (Mancl-DeRouen, Kauermann-Carroll, Fay-Graubard and
Morel-Bokossa-Neerchal small-sample corrections), vectorised over clusters.

>>> import mixedmodels as mm
>>> from mixedmodels_gee import gee
>>> fit = gee("resp ~ age + smoke", mm.datasets.load("ohio"), groups="id",
...           family="binomial", corstr="ar1")
>>> fit.summary()  # doctest: +SKIP

Installed, it also registers the estimator ``"gee"``:
``mm.Model("resp ~ age + smoke", ohio, family="binomial", groups="id").fit(method="gee")``.
"""

from __future__ import annotations

from ._correlation import (
    AR1,
    Exchangeable,
    Fixed,
    Independence,
    MDependent,
    Unstructured,
    WorkingCorrelation,
)
from ._estimator import GEEEstimator, gee
from ._fit import GEEConvergenceWarning, GEEError
from ._inference import anova, qic
from ._results import GEEResult
from ._tidiers import glance_gee, tidy_gee
from ._variance import VCOV_TYPES

__version__ = "0.1.0"

__all__ = [
    "AR1",
    "VCOV_TYPES",
    "Exchangeable",
    "Fixed",
    "GEEConvergenceWarning",
    "GEEError",
    "GEEEstimator",
    "GEEResult",
    "Independence",
    "MDependent",
    "Unstructured",
    "WorkingCorrelation",
    "__version__",
    "anova",
    "gee",
    "glance_gee",
    "qic",
    "tidy_gee",
]
