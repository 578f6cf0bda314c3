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
from ._inference import anova
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


def qic(*results: GEEResult, scaled: bool = False) -> "pd.DataFrame":  # noqa: UP037
    """QIC table of one or more fits (geepack's ``QIC(fit1, fit2, ...)``).

    Parameters
    ----------
    *results
        Fitted GEE models (of the same data, for the comparison to make sense).
    scaled
        Divide the quasi-likelihood by each fit's scale (see :meth:`GEEResult.qic`).

    Returns
    -------
    pandas.DataFrame
        One row per fit: ``QIC``, ``QICu``, ``QuasiLik``, ``CIC``, ``params``, ``QICC``.
    """
    import pandas as pd

    if not results:
        raise ValueError("qic needs at least one fit")
    nobs = {r.nobs for r in results}
    if len(nobs) > 1:
        import warnings

        warnings.warn("models are not all fitted to the same number of observations", stacklevel=2)
    rows = [r.qic(scaled=scaled) for r in results]
    return pd.DataFrame(rows, index=[f"fit{i + 1}" for i in range(len(rows))])
