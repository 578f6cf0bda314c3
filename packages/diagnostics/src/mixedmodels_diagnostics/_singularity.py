"""Singular fits: lme4's ``isSingular`` / ``performance::check_singularity``, and
the test that :func:`~mixedmodels_diagnostics.variance_decomposition` uses to leave out
the random-effect variance of a singular fit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._result_kind import mixed_reason, require

__all__ = ["check_singularity", "singular_terms", "split_theta"]

FloatArray = NDArray[np.float64]


def singular_terms(result: Any, tol: float) -> tuple[bool, float, list[str]]:
    """lme4's test: a theta with lower bound 0 (a diagonal element of a Cholesky factor)
    below ``tol``; returns (singular, the smallest such theta, the terms concerned)."""
    model = result.model
    smallest = math.inf
    terms: list[str] = []
    for name, structure, th in zip(
        model.group_names, model.structures, split_theta(result), strict=True
    ):
        lower = structure.bounds()[0]
        diag = np.isfinite(lower) & (lower == 0)
        if not np.any(diag):
            continue
        vals = np.abs(np.asarray(th)[diag])
        smallest = min(smallest, float(vals.min()))
        if np.any(vals < tol):
            terms.append(name)
    return bool(terms), smallest, terms


def split_theta(result: Any) -> list[FloatArray]:
    """Each random-effect term's parameters (a residual structure's parameters, which
    follow them in ``theta``, are left out)."""
    sizes = [int(s.n_params) for s in result.model.structures]
    theta = np.asarray(result.theta, dtype=np.float64)[: sum(sizes)]
    return list(np.split(theta, np.cumsum(sizes)[:-1]))


def check_singularity(fit: Any, tol: float = 1e-4) -> dict[str, Any]:
    """Whether the fit is singular, as ``lme4::isSingular`` / ``performance::check_singularity``.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM.
    tol
        Threshold for a diagonal element of a relative covariance factor (lme4's
        ``isSingular`` default ``1e-4``; performance's default is ``1e-5``).

    Returns
    -------
    dict
        ``singular`` (bool), ``min_theta`` (the smallest such element), ``terms`` (the
        random-effect terms at the boundary) and ``tolerance``.

    Raises
    ------
    TypeError
        ``fit`` is not an LMM or GLMM result.
    """
    require(fit, "check_singularity", mixed_reason(fit, "check_singularity"))
    singular, smallest, terms = singular_terms(fit, tol)
    return {"singular": singular, "min_theta": smallest, "terms": terms, "tolerance": tol}
