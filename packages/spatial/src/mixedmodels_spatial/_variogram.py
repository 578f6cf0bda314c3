"""Variograms and Moran's I of residuals.

The empirical semivariogram bins the pairs of locations by distance:
``gamma(h) = mean((r_i - r_j)^2) / 2`` (Matheron) or, robust to outliers, Cressie and
Hawkins' ``(mean |r_i - r_j|^(1/2))^4 / (2 (0.457 + 0.494 / N + 0.045 / N^2))``.  The
fitted model's is ``sigma^2 (nugget + (1 - nugget) (1 - rho(h)))`` for ``h > 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ._distance import distances
from ._kernel import SpatialKernel, make_kernel
from ._structures import STRUCTURES

FloatArray = NDArray[np.float64]

__all__ = ["model_variogram", "morans_i", "plot_variogram", "variogram"]

_FAMILY = {cls.name: (cls.family, cls.nu) for cls in STRUCTURES}


def _residuals_and_coords(
    fit: Any, coords: Sequence[str] | FloatArray | None
) -> tuple[FloatArray, FloatArray, str]:
    """Residuals and coordinates of a :class:`SpatialFit`, a core fit (``coords``: the
    coordinate columns of its data) or a plain array of residuals (``coords``: array)."""
    metric = "euclidean"
    if hasattr(fit, "kernel") and hasattr(fit, "coord_names"):
        return fit.residuals().to_numpy(), fit.coords, fit.kernel.metric
    if hasattr(fit, "residuals") and hasattr(fit, "model"):
        if coords is None:
            raise ValueError("give the coordinate columns: coords=['x', 'y']")
        res = fit.residuals()
        cols = [coords] if isinstance(coords, str) else list(coords)
        missing = [c for c in cols if c not in fit.model.data.columns]
        if missing:
            raise KeyError(f"coordinate columns {missing} are not in the model's data")
        xy = fit.model.data.loc[res.index, cols].to_numpy(dtype=np.float64)
        return res.to_numpy(dtype=np.float64), xy, metric
    if coords is None:
        raise ValueError("give the coordinates of the residuals: coords=(n, d) array")
    r = np.asarray(fit, dtype=np.float64).ravel()
    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[0] != r.size:
        raise ValueError(f"coords must be ({r.size}, d), got {xy.shape}")
    return r, xy, metric


def variogram(
    fit: Any,
    coords: Sequence[str] | FloatArray | None = None,
    *,
    n_bins: int = 15,
    max_dist: float | None = None,
    robust: bool = False,
    max_points: int = 3000,
    seed: int = 0,
) -> pd.DataFrame:
    """Empirical semivariogram of the residuals of ``fit``.

    Parameters
    ----------
    fit
        A :class:`~mixedmodels_spatial.SpatialFit`, a core fit (with ``coords`` its
        coordinate columns) or an array of residuals (with ``coords`` an ``(n, d)``
        array).
    n_bins
        Equal-width distance bins.
    max_dist
        Largest distance binned (half the largest distance by default, as gstat).
    robust
        Cressie-Hawkins' robust estimator instead of Matheron's.
    max_points
        Above this, a random subset of the locations (pairs grow as ``n^2``).
    seed
        Seed of that subset.

    Returns
    -------
    pandas.DataFrame
        ``dist`` (mean distance of the bin's pairs), ``gamma``, ``n_pairs``, ``lower``
        and ``upper`` (bin edges).
    """
    r, xy, metric = _residuals_and_coords(fit, coords)
    ok = np.isfinite(r) & np.all(np.isfinite(xy), axis=1)
    r, xy = r[ok], xy[ok]
    if r.size > max_points:
        keep = np.random.default_rng(seed).choice(r.size, max_points, replace=False)
        r, xy = r[keep], xy[keep]
    n = r.size
    if n < 2:
        raise ValueError("a variogram needs at least two residuals")
    i, j = np.triu_indices(n, 1)
    d = distances(xy, xy, metric)[i, j]
    diff = r[i] - r[j]
    top = float(max_dist) if max_dist is not None else 0.5 * float(d.max())
    edges = np.linspace(0.0, top, n_bins + 1)
    which = np.digitize(d, edges[1:-1])
    inside = d <= top
    which, d, diff = which[inside], d[inside], diff[inside]
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    dsum = np.bincount(which, weights=d, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        if robust:
            root = np.bincount(which, weights=np.sqrt(np.abs(diff)), minlength=n_bins) / count
            gamma = root**4 / (2.0 * (0.457 + 0.494 / count + 0.045 / count**2))
        else:
            gamma = 0.5 * np.bincount(which, weights=diff**2, minlength=n_bins) / count
        mean_d = dsum / count
    out = pd.DataFrame(
        {
            "dist": mean_d,
            "gamma": gamma,
            "n_pairs": count.astype(np.int64),
            "lower": edges[:-1],
            "upper": edges[1:],
        }
    )
    return out[out["n_pairs"] > 0].reset_index(drop=True)


def _kernel_of(fit: Any) -> tuple[SpatialKernel, FloatArray, float]:
    """The fitted correlation, its internal parameters and sigma."""
    if hasattr(fit, "kernel") and hasattr(fit, "params"):
        return fit.kernel, fit.params, float(fit.sigma)
    table = fit.structure_parameters(conf_int=False)
    rows = table[table["structure"].isin(list(_FAMILY))]
    if rows.empty:
        raise ValueError("the fit has no spatial correlation of mixedmodels-spatial")
    name = str(rows["structure"].iloc[0])
    values = dict(zip(rows["term"], rows["estimate"], strict=False))
    fam, nu = _FAMILY[name]
    nugget = "nugget" in values
    kernel = make_kernel(fam, None, nugget=nugget, nu=None if "smoothness" in values else nu)
    params = [np.log(values["range"])]
    if "smoothness" in values:
        params.append(np.log(values["smoothness"]))
    if nugget:
        params.append(np.log(values["nugget"] / (1 - values["nugget"])))
    return kernel, np.asarray(params), float(fit.sigma)


def model_variogram(fit: Any, dist: Sequence[float] | FloatArray) -> pd.DataFrame:
    """The fitted model's semivariogram at distances ``dist`` (``dist > 0``; the
    nugget is the jump at 0): ``sigma^2 (nugget + (1 - nugget) (1 - rho(d)))``.

    ``fit`` is a :class:`~mixedmodels_spatial.SpatialFit` or a core fit with a spatial
    residual correlation (``correlation="exp(x + y, nugget = TRUE)"``).
    """
    kernel, params, sigma = _kernel_of(fit)
    v = kernel.unpack(params)
    d = np.asarray(dist, dtype=np.float64)
    rho = kernel.rho(d, v)
    gamma = sigma**2 * (v["nugget"] + (1.0 - v["nugget"]) * (1.0 - rho))
    return pd.DataFrame({"dist": d, "gamma": gamma})


def plot_variogram(
    fit: Any,
    coords: Sequence[str] | FloatArray | None = None,
    ax: Any = None,
    **options: Any,
) -> Any:
    """Plot the empirical semivariogram of the residuals with the fitted model's
    (matplotlib, an optional dependency: ``pip install mixedmodels-spatial[plot]``).

    Returns the matplotlib Axes.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_variogram needs matplotlib: pip install mixedmodels-spatial[plot]"
        ) from err
    emp = variogram(fit, coords, **options)
    if ax is None:
        _, ax = plt.subplots()
    ax.scatter(emp["dist"], emp["gamma"], color="C0", label="empirical")
    try:
        grid = np.linspace(emp["upper"].max() / 200, emp["upper"].max(), 200)
        mod = model_variogram(fit, grid)
        ax.plot(mod["dist"], mod["gamma"], color="C1", label="fitted model")
    except ValueError:
        pass
    ax.set_xlabel("distance")
    ax.set_ylabel("semivariance")
    ax.set_ylim(bottom=0)
    ax.legend()
    return ax


def morans_i(
    fit: Any,
    coords: Sequence[str] | FloatArray | None = None,
    alternative: str = "two.sided",
) -> pd.Series:
    """Moran's I of the residuals with row-standardised inverse-distance weights and
    its normal-approximation test (``ape::Moran.I``; the diagnostics plugin's
    ``test_spatial_autocorrelation`` runs it on DHARMa's simulated residuals).

    Returns
    -------
    pandas.Series
        ``observed``, ``expected``, ``sd``, ``p_value``.
    """
    r, xy, metric = _residuals_and_coords(fit, coords)
    n = r.size
    if np.unique(xy, axis=0).shape[0] != n:
        raise ValueError(
            "the coordinates repeat a location; Moran's I needs one residual per location "
            "(average the residuals per location first)"
        )
    if alternative not in ("two.sided", "greater", "less"):
        raise ValueError("alternative must be 'two.sided', 'greater' or 'less'")
    dist = distances(xy, xy, metric)
    np.fill_diagonal(dist, np.inf)
    w = 1.0 / dist
    w /= w.sum(axis=1, keepdims=True)
    z = r - r.mean()
    s = w.sum()
    v = float(z @ z)
    observed = float(n / s * (z @ w @ z) / v)
    expected = -1.0 / (n - 1)
    s1 = 0.5 * float(np.sum((w + w.T) ** 2))
    s2 = float(np.sum((w.sum(axis=1) + w.sum(axis=0)) ** 2))
    kurt = (np.sum(z**4) / n) / (v / n) ** 2
    num = n * ((n * n - 3 * n + 3) * s1 - n * s2 + 3 * s * s) - kurt * (
        n * (n - 1) * s1 - 2 * n * s2 + 6 * s * s
    )
    sd = math.sqrt(num / ((n - 1) * (n - 2) * (n - 3) * s * s) - 1.0 / (n - 1) ** 2)
    p = float(stats.norm.cdf(observed, expected, sd))
    if alternative == "two.sided":
        p = 2.0 * p if observed <= expected else 2.0 * (1.0 - p)
    elif alternative == "greater":
        p = 1.0 - p
    return pd.Series({"observed": observed, "expected": expected, "sd": sd, "p_value": p})
