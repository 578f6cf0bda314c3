"""DHARMa's autocorrelation tests of the scaled residuals: Durbin-Watson in time,
Moran's I in space.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import integrate, stats

from ._residual_test_result import ResidualTestResult, check_alternative
from ._residuals import ensure_residuals

FloatArray = NDArray[np.float64]

__all__ = ["test_spatial_autocorrelation", "test_temporal_autocorrelation"]


def _check_length(name: str, values: Any, n: int) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size != n:
        raise ValueError(
            f"{name} has length {arr.size} but the residuals have length {n}; give one "
            f"{name} value per observation, in the order of the data"
        )
    return arr


def _imhof_lower(lam: FloatArray) -> float:
    """P(sum lam_i z_i^2 < 0) for independent standard normal z (Imhof 1961)."""

    def integrand(u: float) -> float:
        theta = 0.5 * np.sum(np.arctan(lam * u))
        rho = np.exp(0.25 * np.sum(np.log1p((lam * u) ** 2)))
        return float(np.sin(theta) / (u * rho))

    value, _ = integrate.quad(integrand, 0.0, np.inf, limit=500)
    return float(0.5 - value / math.pi)


def test_temporal_autocorrelation(
    res: Any, time: Any, alternative: str = "two.sided"
) -> ResidualTestResult:
    """Durbin-Watson test of the residuals ordered by ``time`` (DHARMa's
    ``testTemporalAutocorrelation``, via ``lmtest::dwtest(res ~ 1)``).

    Parameters
    ----------
    res
        :class:`ScaledResiduals` or a fitted model.
    time
        One distinct time per observation, in the order of the data.
    alternative
        ``"two.sided"`` (default), ``"greater"`` (positive autocorrelation) or
        ``"less"``.

    Returns
    -------
    ResidualTestResult
        Statistic ``DW``; exact p-value (Imhof) below 100 observations, else the
        normal approximation, as ``dwtest``.

    Raises
    ------
    ValueError
        ``time`` does not have one value per observation, or repeats values.
    """
    sr = ensure_residuals(res, "test_temporal_autocorrelation")
    alternative = check_alternative(alternative)
    n = sr.n_obs
    t = _check_length("time", time, n)
    if np.unique(t).size != n:
        raise ValueError(
            "time has repeated values; testing temporal autocorrelation needs one "
            "observation per time (aggregate the residuals per time step first)"
        )
    e = sr.residuals.to_numpy()[np.argsort(t, kind="stable")]
    e = e - e.mean()
    dw = float(np.sum(np.diff(e) ** 2) / np.sum(e**2))
    exact = n < 100
    pdw = math.nan
    if exact:
        # Eigenvalues of M A for an intercept-only regression: 2 - 2 cos(pi j / n).
        ev = 2.0 - 2.0 * np.cos(np.pi * np.arange(1, n) / n)
        pdw = _imhof_lower(ev - dw)
        if not 1e-10 < pdw < 1 - 1e-10:
            exact = False
    if not exact:
        sd = math.sqrt(4.0 * (n - 2) / (n * n - 1.0))
        pdw = float(stats.norm.cdf(dw, 2.0, sd))
    p = {"greater": pdw, "less": 1.0 - pdw}.get(alternative, 2.0 * min(pdw, 1.0 - pdw))
    return ResidualTestResult(
        method="Durbin-Watson test",
        statistic=dw,
        p_value=float(min(max(p, 0.0), 1.0)),
        alternative=alternative,
        statistic_name="DW",
        details={"exact": exact},
    )


def test_spatial_autocorrelation(
    res: Any, x: Any, y: Any, alternative: str = "two.sided"
) -> ResidualTestResult:
    """Moran's I of the residuals with inverse-distance weights (DHARMa's
    ``testSpatialAutocorrelation``, via ``ape::Moran.I``).

    Parameters
    ----------
    res
        :class:`ScaledResiduals` or a fitted model.
    x, y
        Coordinates, one distinct location per observation, in the order of the data.
    alternative
        ``"two.sided"`` (default), ``"greater"`` (positive autocorrelation) or
        ``"less"``.

    Returns
    -------
    ResidualTestResult
        Statistic: the observed Moran's I; ``details`` its ``expected`` value
        ``-1 / (n - 1)`` and ``sd`` under the null (normal approximation, as ape).

    Raises
    ------
    ValueError
        ``x`` or ``y`` does not have one value per observation, or a location repeats.

    Notes
    -----
    The weights are an ``n x n`` matrix: memory grows as ``n**2``.
    """
    sr = ensure_residuals(res, "test_spatial_autocorrelation")
    alternative = check_alternative(alternative)
    n = sr.n_obs
    xs = _check_length("x", x, n)
    ys = _check_length("y", y, n)
    coords = np.column_stack([xs, ys])
    if np.unique(coords, axis=0).shape[0] != n:
        raise ValueError(
            "the coordinates repeat a location; testing spatial autocorrelation needs one "
            "observation per location (aggregate the residuals per location first)"
        )
    dist = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    w = 1.0 / dist
    rowsum = w.sum(axis=1)
    rowsum[rowsum == 0] = 1.0
    w /= rowsum[:, None]  # ape row-standardises the weights
    r = sr.residuals.to_numpy()
    z = r - r.mean()
    s = w.sum()
    v = float(np.sum(z**2))
    observed = float(n / s * (z @ w @ z) / v)
    expected = -1.0 / (n - 1)
    s1 = 0.5 * float(np.sum((w + w.T) ** 2))
    s2 = float(np.sum((w.sum(axis=1) + w.sum(axis=0)) ** 2))
    s_sq = s * s
    kurt = (np.sum(z**4) / n) / (v / n) ** 2
    num = n * ((n * n - 3 * n + 3) * s1 - n * s2 + 3 * s_sq) - kurt * (
        n * (n - 1) * s1 - 2 * n * s2 + 6 * s_sq
    )
    sd = math.sqrt(num / ((n - 1) * (n - 2) * (n - 3) * s_sq) - 1.0 / (n - 1) ** 2)
    pv = float(stats.norm.cdf(observed, expected, sd))
    if alternative == "two.sided":
        pv = 2.0 * pv if observed <= expected else 2.0 * (1.0 - pv)
    elif alternative == "greater":
        pv = 1.0 - pv
    return ResidualTestResult(
        method="DHARMa Moran's I test for spatial autocorrelation",
        statistic=observed,
        p_value=pv,
        alternative=alternative,
        statistic_name="observed",
        details={"expected": expected, "sd": sd},
    )
