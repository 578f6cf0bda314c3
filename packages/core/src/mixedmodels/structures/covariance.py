"""Built-in covariance structures for random-effect terms and residuals.

The parameters are those of the relative covariance factor ``lambda`` (the random
effects' covariance divided by the residual variance is ``lambda @ lambda.T``), as in
lme4, so that the profiled criterion is a smooth function of them with simple bounds.

Structured covariances (glmmTMB's names and parameter counts) are a matrix of relative
standard deviations times a correlation matrix, ``diag(s) C(r) diag(s)``.  Their factor
is ``diag(s) chol(C(r))``: the SDs are bounded below by zero (a zero SD is a singular,
boundary fit, as in lme4) and the correlation parameters ``r`` are unconstrained, mapped
onto valid correlations by a transform, so that every parameter vector inside the
bounds gives a positive semi-definite covariance.

| name      | parameters (dim ``n``)        | covariance                                |
|-----------|-------------------------------|-------------------------------------------|
| ``us``    | ``n(n+1)/2``                  | unstructured (lme4's Cholesky ``theta``)   |
| ``diag``  | ``n``                         | independent, own variances                |
| ``homdiag``| 1                            | independent, one variance                 |
| ``cs``    | ``n + 1``                     | compound symmetry, own variances          |
| ``homcs`` | 2                             | compound symmetry, one variance           |
| ``ar1``   | 2                             | AR(1) over the columns, one variance      |
| ``car1``  | 2                             | continuous AR(1), one variance            |
| ``arma``  | ``1 + p + q``                 | ARMA(p, q) over the columns, one variance |
| ``toep``  | ``2n - 1``                    | Toeplitz, own variances                   |
| ``symm``  | ``n(n+1)/2``                  | general correlation, own variances        |

For ``n = 1`` a structure has no correlation parameter.  ``us``, ``symm``, ``cs``,
``ar1``, ``car1``, ``arma`` and ``toep`` also serve as residual correlations within
groups (nlme's ``correlation=``, see :meth:`CovarianceStructure.residual_correlation`):
``symm``/``us`` is nlme's ``corSymm``, ``cs`` ``corCompSymm``, ``ar1`` ``corAR1``,
``car1`` ``corCAR1``, ``arma`` ``corARMA``.

This module gathers the built-in structures: lme4's ``theta`` forms in :mod:`.unstructured`,
SDs times a correlation matrix in :mod:`.scaled` and :mod:`.time_series` (with the ARMA
autocorrelations of :mod:`.acf`), and their residual-correlation forms in :mod:`.corstruct`.
"""

from __future__ import annotations

from ..interfaces import CovarianceStructure
from .acf import arma_acf, pacf_to_ar
from .scaled import (
    CompoundSymmetry,
    GeneralSymmetric,
    HomogeneousCompoundSymmetry,
    ScaledCorrelation,
)
from .time_series import AR1, ARMA, CAR1, Toeplitz
from .unstructured import Diagonal, HomogeneousDiagonal, Unstructured

__all__ = [
    "AR1",
    "ARMA",
    "BUILTIN_STRUCTURES",
    "CAR1",
    "CompoundSymmetry",
    "Diagonal",
    "GeneralSymmetric",
    "HomogeneousCompoundSymmetry",
    "HomogeneousDiagonal",
    "ScaledCorrelation",
    "Toeplitz",
    "Unstructured",
    "arma_acf",
    "pacf_to_ar",
]


BUILTIN_STRUCTURES: list[type[CovarianceStructure]] = [
    Unstructured,
    Diagonal,
    HomogeneousDiagonal,
    CompoundSymmetry,
    HomogeneousCompoundSymmetry,
    AR1,
    CAR1,
    ARMA,
    Toeplitz,
    GeneralSymmetric,
]
