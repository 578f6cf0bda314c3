"""mixedmodels-pql: GLMMs by penalized quasi-likelihood (R's ``MASS::glmmPQL``).

Iterated weighted maximum-likelihood linear mixed models on the working response,
with the core's residual correlation structures (``correlation="ar1(1 | ID)"``).

>>> from mixedmodels_pql import glmmPQL
>>> fit = glmmPQL("cbind(incidence, size - incidence) ~ period", "~ 1 | herd",
...               "binomial", cbpp)  # doctest: +SKIP

Installed, it also registers the estimator ``"pql"``:
``mm.Model("... + (1 | herd)", cbpp, family="binomial").fit(method="pql")``.
"""

from __future__ import annotations

from ._estimator import PQLEstimator, check_variance_function, glmmPQL
from ._fit import PQLConvergenceWarning
from ._results import PQLResult
from ._tidiers import glance_pql, tidy_pql

__version__ = "0.1.0"

__all__ = [
    "PQLConvergenceWarning",
    "PQLEstimator",
    "PQLResult",
    "__version__",
    "check_variance_function",
    "glance_pql",
    "glmmPQL",
    "tidy_pql",
]
