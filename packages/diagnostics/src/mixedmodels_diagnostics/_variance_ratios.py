"""Ratios of variance components: the ICC (``performance::icc``), Nakagawa's R²
(``performance::r2_nakagawa``) and the slope-heterogeneity ICC (``iccbeta::icc_beta``).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ._result_kind import require, result_kind, type_name
from ._variance_components import VARIANCE_TOL, variance_decomposition, variance_reason

__all__ = ["icc", "icc_beta", "r2_nakagawa"]


def _warn_singular(var_random: float, what: str) -> None:
    if math.isnan(var_random):
        # insight's warning: the random-effect variance is not computed for such fits.
        warnings.warn(
            f"can't compute the {what} with its random-effect variance: some variance "
            "components are (near) zero; the fit may be singular (see check_singularity)",
            UserWarning,
            stacklevel=3,
        )


def icc(fit: Any, by_group: bool = False, tolerance: float = VARIANCE_TOL) -> Any:
    """Intraclass correlation coefficient, as ``performance::icc``.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM (see :func:`variance_decomposition`).
    by_group
        Per grouping factor: ``var.intercept[group] / (var.random + var.residual)``
        (performance's ``by_group = TRUE``; not meaningful with random slopes).
    tolerance
        Singularity tolerance (see :func:`variance_decomposition`).

    Returns
    -------
    dict or pandas.DataFrame
        ``{"adjusted": ..., "conditional": ...}``: adjusted ``var.random / (var.random +
        var.residual)``, conditional (performance's "unadjusted")
        ``var.random / (var.fixed + var.random + var.residual)``; NaN for a singular
        fit.  With ``by_group=True`` a DataFrame with columns ``group`` and ``icc``.

    Raises
    ------
    TypeError
        ``fit`` is not a supported result.
    """
    require(fit, "icc", variance_reason(fit, "icc"))
    v = variance_decomposition(fit, tolerance=tolerance)
    rnd, res, fix = v["var.random"], v["var.residual"], v["var.fixed"]
    _warn_singular(rnd, "ICC")
    if by_group:
        if v["var.slope"]:
            warnings.warn(
                "icc: the model has random slopes; ICCs by group factor are not accurate",
                UserWarning,
                stacklevel=2,
            )
        groups = list(v["var.intercept"])
        values = np.array([v["var.intercept"][g] for g in groups], dtype=float)
        return pd.DataFrame({"group": groups, "icc": values / (rnd + res)})
    return {"adjusted": rnd / (rnd + res), "conditional": rnd / (fix + rnd + res)}


def r2_nakagawa(fit: Any, tolerance: float = VARIANCE_TOL) -> dict[str, float]:
    """Nakagawa's marginal and conditional R², as ``performance::r2_nakagawa``.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM (see :func:`variance_decomposition`).
    tolerance
        Singularity tolerance (see :func:`variance_decomposition`).

    Returns
    -------
    dict
        ``marginal = var.fixed / total`` and ``conditional = (var.fixed + var.random) /
        total`` with ``total = var.fixed + var.random + var.residual``.  For a singular
        fit, as performance: ``marginal = var.fixed / (var.fixed + var.residual)`` and
        ``conditional`` NaN.

    Raises
    ------
    TypeError
        ``fit`` is not a supported result.
    """
    require(fit, "r2_nakagawa", variance_reason(fit, "r2_nakagawa"))
    v = variance_decomposition(fit, tolerance=tolerance)
    rnd, res, fix = v["var.random"], v["var.residual"], v["var.fixed"]
    _warn_singular(rnd, "R2")
    if math.isnan(rnd):
        return {"marginal": fix / (fix + res), "conditional": math.nan}
    total = fix + rnd + res
    return {"marginal": fix / total, "conditional": (fix + rnd) / total}


def icc_beta(fit: Any, group: str | None = None) -> float:
    """Share of the response's variance due to heterogeneity in slopes, as
    ``iccbeta::icc_beta`` (Aguinis & Culpepper 2015).

    ``rho_beta = tr(T S_w) / var(y)`` with ``T`` the covariance of the grouping
    factor's random effects, ``S_w`` the pooled within-group cross-product of the
    corresponding columns of the fixed-effects matrix (group means removed, divided by
    ``N - 1``) and ``var(y)`` the response's sample variance.

    Parameters
    ----------
    fit
        A linear mixed model whose random-effect term for ``group`` has columns that
        are fixed-effect columns too (e.g. ``y ~ x + (x | g)``).
    group
        The grouping factor (default: the first term with a random slope).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        Not a linear mixed model.
    ValueError
        No term with a random slope, an unknown group, or a random-effect column that
        is not a fixed-effect column.
    """
    if result_kind(fit) != "lmm":
        raise TypeError(f"icc_beta needs a linear mixed model (LMMResult), got {type_name(fit)}")
    model = fit.model
    names = list(model.group_names)
    if group is None:
        slopes = [i for i, t in enumerate(model.terms) if t.dim > 1]
        if not slopes:
            raise ValueError("icc_beta needs a random-slope term, e.g. (x | g)")
        index = slopes[0]
    else:
        plain = [str(t.group_name) for t in model.terms]
        if group not in names and group not in plain:
            raise ValueError(f"icc_beta: unknown group {group!r}; the model's groups are {names}")
        index = names.index(group) if group in names else plain.index(group)
    term = model.terms[index]
    columns = [str(c) for c in term.column_names]
    fixef_names = [str(c) for c in model.fixef_names]
    missing = [c for c in columns if c not in fixef_names]
    if missing:
        raise ValueError(
            f"icc_beta: the random-effect columns {missing} of ({term.expr}) are not "
            "fixed-effect columns; iccbeta assumes the same columns in both"
        )
    X = np.asarray(model.X, dtype=np.float64)[:, [fixef_names.index(c) for c in columns]]
    codes = np.asarray(term.codes)
    counts = np.bincount(codes, minlength=term.n_levels).astype(np.float64)
    sums = np.stack(
        [np.bincount(codes, X[:, j], minlength=term.n_levels) for j in range(X.shape[1])],
        axis=1,
    )
    centred = X - (sums / np.maximum(counts, 1.0)[:, None])[codes]
    within = centred.T @ centred / (X.shape[0] - 1.0)
    T = fit.covariance_matrices()[names[index]].to_numpy(dtype=np.float64)
    y = np.asarray(model.response, dtype=np.float64)
    return float(np.trace(T @ within) / np.var(y, ddof=1))
