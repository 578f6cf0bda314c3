"""DHARMa's ``testQuantiles``: quantile regressions of the scaled residuals on a
predictor, against the flat lines of uniform residuals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import interpolate, optimize, stats

from ._residual_test_result import ResidualTestResult, p_adjust_bh
from ._residuals import ensure_residuals

FloatArray = NDArray[np.float64]

__all__ = ["quantile_regression", "rank01", "test_quantiles"]


def rank01(x: FloatArray) -> FloatArray:
    """Ranks scaled to (0, 1]: the smooth is placed in quantiles of the predictor."""
    r = stats.rankdata(x, method="average")
    return np.asarray(r / r.max(), dtype=np.float64)


def _basis(t: FloatArray, k: int, n_unique: int, values: FloatArray) -> FloatArray:
    """Cubic B-spline basis with ``k`` functions on [0, 1] (partition of unity), or
    indicators of the distinct values when there are fewer than 4."""
    if n_unique < 4:
        return (t[:, None] == values[None, :]).astype(np.float64)
    inner = np.linspace(0.0, 1.0, k - 2)[1:-1]
    knots = np.concatenate([np.zeros(4), inner, np.ones(4)])
    lo = min(0.0, float(t.min()))
    return np.asarray(
        interpolate.BSpline.design_matrix(np.clip(t, lo, 1.0), knots, 3).toarray(),
        dtype=np.float64,
    )


def quantile_regression(x: FloatArray, y: FloatArray, tau: float) -> FloatArray:
    """Linear quantile regression of ``y`` on the columns of ``x``; returns the
    coefficients.

    Solves Koenker and Bassett's dual, ``max y'a`` subject to ``x'a = (1 - tau) x'1``,
    ``0 <= a <= 1`` (HiGHS): ``p`` constraints instead of the primal's ``n``, so tens
    of times faster for thousands of rows; the coefficients are the constraints'
    multipliers.
    """
    sol = optimize.linprog(
        -np.asarray(y, dtype=np.float64),
        A_eq=x.T,
        b_eq=(1.0 - tau) * x.sum(axis=0),
        bounds=(0.0, 1.0),
        method="highs",
    )
    if not sol.success:
        raise RuntimeError(f"quantile regression failed: {sol.message}")
    return np.asarray(-sol.eqlin.marginals, dtype=np.float64)


def test_quantiles(
    res: Any,
    predictor: Any = None,
    quantiles: Sequence[float] = (0.25, 0.5, 0.75),
    curves: bool = True,
) -> ResidualTestResult:
    """Are the quantiles of the residuals flat at 0.25, 0.5, 0.75 along the predictor?
    (DHARMa's ``testQuantiles``.)

    DHARMa fits a quantile GAM (qgam) per quantile and tests its intercept and smooth.
    Here, for each quantile ``tau``, a rank-score test (Koenker's) of the quantile
    regression of the residuals on a cubic B-spline of the predictor's ranks (at most
    10 functions, as DHARMa's ``k``, and one per 20 observations, at least 4): under the
    model the residuals are uniform, so the
    ``tau`` quantile is ``tau`` everywhere and ``tau - 1{r < tau}`` is uncorrelated
    with the basis.  The level (intercept) and the shape (spline) tests are combined
    by Benjamini-Hochberg, then the quantiles likewise, as DHARMa.

    Parameters
    ----------
    res
        :class:`ScaledResiduals` or a fitted model.
    predictor
        Values to test against (default: the fitted values), length ``n_obs``.
    quantiles
        The quantiles to test.
    curves
        Also fit the quantile curves (linear programme; for plots) and return them in
        ``details["predictions"]``.

    Returns
    -------
    ResidualTestResult
        ``p_value`` the combined p-value, ``details["p_values"]`` one per quantile.
    """
    sr = ensure_residuals(res, "test_quantiles")
    pred = sr.fitted if predictor is None else np.asarray(predictor, dtype=np.float64).ravel()
    if pred.size != sr.n_obs:
        raise ValueError(
            f"predictor has length {pred.size} but the residuals have length {sr.n_obs}"
        )
    r: FloatArray = np.asarray(sr.residuals.to_numpy(), dtype=np.float64)
    t = rank01(pred)
    values = np.unique(t)
    # At most 10 functions (DHARMa's k); fewer for small data, where a 10-function
    # unpenalised spline would chase single points (qgam penalises instead).
    k = min(values.size, 10, max(4, r.size // 20))
    basis = _basis(t, k, values.size, values)
    centred = basis - basis.mean(axis=0)
    # The basis sums to one, so its centred span has rank k - 1; lstsq handles that.
    rank = int(np.linalg.matrix_rank(centred))
    n = r.size
    p_values = np.full(len(quantiles), np.nan)
    grid = np.sort(t)
    preds = pd.DataFrame({"pred": np.sort(pred)})
    for j, tau in enumerate(quantiles):
        psi = tau - (r < tau).astype(np.float64)
        var = tau * (1.0 - tau)
        z = psi.sum() / math.sqrt(n * var)
        p_level = 2.0 * float(stats.norm.sf(abs(z)))
        if rank > 0:
            coef, *_ = np.linalg.lstsq(centred, psi, rcond=None)
            score = float(psi @ (centred @ coef)) / var
            p_shape = float(stats.chi2.sf(score, rank))
        else:
            p_shape = math.nan
        p_values[j] = float(np.nanmin(p_adjust_bh(np.array([p_level, p_shape]))))
        if curves:
            try:
                beta = quantile_regression(basis, r, tau)
                preds[f"q{tau:g}"] = _basis(grid, k, values.size, values) @ beta
            except RuntimeError:
                preds[f"q{tau:g}"] = np.nan
    return ResidualTestResult(
        method="Test for location of quantiles via B-spline quantile regression (rank score)",
        statistic=math.nan,
        p_value=float(np.nanmin(p_adjust_bh(p_values))),
        alternative="two.sided",
        statistic_name="",
        details={
            "p_values": p_values,
            "quantiles": tuple(quantiles),
            "predictions": preds if curves else None,
        },
    )
