"""DHARMa's tests on simulation-based scaled residuals.

Every test takes a :class:`~mixedmodels_diagnostics.ScaledResiduals` or a fitted model
(then simulated with :func:`~mixedmodels_diagnostics.simulate_residuals`' defaults) and
returns a :class:`ResidualTestResult` (statistic, p-value, alternative, method), as
DHARMa's ``htest`` objects.  Simulation p-values use DHARMa's ``getP``: the share of
simulated statistics at least as extreme as the observed one, two-sided by doubling the
smaller tail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import integrate, interpolate, optimize, stats

from mixedmodels.interfaces import Diagnostic

from ._residuals import ensure_residuals, unsupported_reason

__all__ = [
    "DIAGNOSTICS",
    "DharmaDiagnostic",
    "ResidualTestResult",
    "test_dispersion",
    "test_outliers",
    "test_quantiles",
    "test_spatial_autocorrelation",
    "test_temporal_autocorrelation",
    "test_uniformity",
    "test_zero_inflation",
]

FloatArray = NDArray[np.float64]
_ALTERNATIVES = ("two.sided", "greater", "less")


@dataclass
class ResidualTestResult:
    """The outcome of one residual test (R's ``htest``).

    Attributes
    ----------
    method
        What was tested and how.
    statistic
        The test statistic (named by ``statistic_name``).
    p_value
        The p-value.
    alternative
        ``"two.sided"``, ``"greater"`` or ``"less"``.
    statistic_name
        Name of the statistic (e.g. ``"D"``, ``"dispersion"``, ``"ratioObsSim"``).
    details
        Test-specific extras (simulated statistics, expected values, fitted quantile
        curves, ...).
    """

    method: str
    statistic: float
    p_value: float
    alternative: str
    statistic_name: str
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """``statistic``, ``p_value``, ``alternative``, ``method`` and the details."""
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "alternative": self.alternative,
            "method": self.method,
            "statistic_name": self.statistic_name,
            **self.details,
        }

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]


# R's alternative names -> scipy's.
_SCIPY_ALTERNATIVE: dict[str, Literal["two-sided", "less", "greater"]] = {
    "two.sided": "two-sided",
    "greater": "greater",
    "less": "less",
}


def _alternative(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    return alternative


def get_p(simulated: FloatArray, observed: float, alternative: str) -> float:
    """DHARMa's ``getP``: simulation p-value of ``observed`` among ``simulated``."""
    sim = np.asarray(simulated, dtype=np.float64)
    if alternative == "greater":
        return float(np.mean(sim >= observed))
    if alternative == "less":
        return float(np.mean(sim <= observed))
    smaller = min(float(np.mean(sim <= observed)), float(np.mean(sim >= observed)))
    return min(2.0 * smaller, 1.0)


def _bh(p: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(method = "BH")``);
    NaN are left out, as R does."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q)[::-1]
    ranks = np.arange(m, 0, -1)
    adj = np.minimum.accumulate(m / ranks * q[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


# --- uniformity -------------------------------------------------------------------------
def test_uniformity(res: Any, alternative: str = "two.sided") -> ResidualTestResult:
    """Kolmogorov-Smirnov test of the scaled residuals against the uniform
    (DHARMa's ``testUniformity``).

    Parameters
    ----------
    res
        :class:`ScaledResiduals` or a fitted model.
    alternative
        ``"two.sided"`` (default), ``"less"`` or ``"greater"`` (as R's ``ks.test``).

    Returns
    -------
    ResidualTestResult
        Statistic ``D``; exact p-value below 100 residuals without ties, else the
        asymptotic one (as R's ``ks.test``).
    """
    sr = ensure_residuals(res, "test_uniformity")
    alternative = _alternative(alternative)
    r = sr.residuals.to_numpy()
    exact = r.size < 100 and np.unique(r).size == r.size
    scipy_alt = _SCIPY_ALTERNATIVE[alternative]
    ks = stats.kstest(r, "uniform", alternative=scipy_alt, method="exact" if exact else "asymp")
    return ResidualTestResult(
        method=f"{'Exact' if exact else 'Asymptotic'} one-sample Kolmogorov-Smirnov test",
        statistic=float(ks.statistic),
        p_value=float(ks.pvalue),
        alternative=alternative,
        statistic_name="D",
    )


# --- dispersion -------------------------------------------------------------------------
def _pearson(fit: Any) -> FloatArray:
    if hasattr(fit, "family"):
        return np.asarray(fit.residuals(type="pearson").to_numpy(), dtype=np.float64)
    return np.asarray(fit.residuals(type="pearson", scaled=True).to_numpy(), dtype=np.float64)


def test_dispersion(
    res: Any, alternative: str = "two.sided", type: str = "DHARMa"
) -> ResidualTestResult:
    """Over- / underdispersion (DHARMa's ``testDispersion``).

    Parameters
    ----------
    res
        :class:`ScaledResiduals` or a fitted model.
    alternative
        ``"two.sided"`` (default), ``"greater"`` (overdispersion only) or ``"less"``.
    type
        ``"DHARMa"`` (default): without refit, the SD of ``observed - fitted`` against
        the SDs of ``simulated - fitted`` (statistic: their ratio to the mean simulated
        SD); with ``refit=True`` residuals, the sum of squared Pearson residuals of the
        fit against those of the refits.  ``"PearsonChisq"``: the parametric test, sum
        of squared Pearson residuals over the residual degrees of freedom against a
        chi-square (needs the fit; not for refit residuals).

    Returns
    -------
    ResidualTestResult
        Statistic ``dispersion`` (> 1: overdispersion), ``details["simulated"]`` the
        simulated statistics.
    """
    sr = ensure_residuals(res, "test_dispersion")
    alternative = _alternative(alternative)
    if type == "PearsonChisq":
        if sr.refit:
            raise ValueError("type='PearsonChisq' is not for refit residuals; use 'DHARMa'")
        if sr.fit is None:
            raise ValueError("type='PearsonChisq' needs the fitted model (not from_simulations)")
        rp = _pearson(sr.fit)
        chisq = float(np.sum(rp**2))
        rdf = int(sr.fit.nobs) - int(sr.fit.df)
        lower = float(stats.chi2.cdf(chisq, rdf))
        upper = float(stats.chi2.sf(chisq, rdf))
        p = {"greater": upper, "less": lower}.get(alternative, min(2.0 * min(lower, upper), 1.0))
        return ResidualTestResult(
            method="Parametric dispersion test via mean Pearson-chisq statistic",
            statistic=chisq / rdf,
            p_value=p,
            alternative=alternative,
            statistic_name="dispersion",
            details={"pearson_chisq": chisq, "rdf": rdf},
        )
    if type != "DHARMa":
        raise ValueError(f"unknown type {type!r}; use 'DHARMa' or 'PearsonChisq'")
    if sr.refit:
        assert sr.refitted_pearson is not None and sr.fit is not None
        observed = float(np.sum(_pearson(sr.fit) ** 2))
        simulated = np.sum(sr.refitted_pearson**2, axis=0)
        method = (
            "DHARMa nonparametric dispersion test via mean deviance residual fitted vs. "
            "simulated-refitted"
        )
    else:
        # sd(x - fitted) for the observed and every simulated response, at once.
        observed = float(np.std(sr.observed - sr.fitted, ddof=1))
        simulated = np.std(sr.simulated - sr.fitted[:, None], axis=0, ddof=1)
        method = "DHARMa nonparametric dispersion test via sd of residuals fitted vs. simulated"
    return ResidualTestResult(
        method=method,
        statistic=observed / float(np.mean(simulated)),
        p_value=get_p(simulated, observed, alternative),
        alternative=alternative,
        statistic_name="dispersion",
        details={"observed": observed, "simulated": simulated},
    )


# --- zero inflation -----------------------------------------------------------------------
def test_zero_inflation(res: Any, alternative: str = "two.sided") -> ResidualTestResult:
    """Observed against simulated number of zeros (DHARMa's ``testZeroInflation``).

    Parameters
    ----------
    res
        :class:`ScaledResiduals` or a fitted model.
    alternative
        ``"two.sided"`` (default), ``"greater"`` (more zeros than expected) or ``"less"``.

    Returns
    -------
    ResidualTestResult
        Statistic ``ratioObsSim``: observed zeros over the mean simulated number.
    """
    sr = ensure_residuals(res, "test_zero_inflation")
    alternative = _alternative(alternative)
    observed = float(np.sum(sr.observed == 0))
    simulated = np.sum(sr.simulated == 0, axis=0).astype(np.float64)
    mean_sim = float(np.mean(simulated))
    return ResidualTestResult(
        method=(
            "DHARMa zero-inflation test via comparison to expected zeros with simulation "
            "under H0 = fitted model"
        ),
        statistic=observed / mean_sim if mean_sim > 0 else math.inf,
        p_value=get_p(simulated, observed, alternative),
        alternative=alternative,
        statistic_name="ratioObsSim",
        details={"observed": observed, "simulated": simulated},
    )


# --- outliers -------------------------------------------------------------------------------
def test_outliers(
    res: Any,
    alternative: str = "two.sided",
    margin: str = "both",
    type: str = "default",
    n_boot: int = 100,
    seed: Any = None,
) -> ResidualTestResult:
    """Too many (or too few) observations outside the simulation envelope (DHARMa's
    ``testOutliers``).

    Parameters
    ----------
    res
        :class:`ScaledResiduals` or a fitted model.
    alternative
        ``"two.sided"`` (default), ``"greater"`` or ``"less"``.
    margin
        ``"both"`` (default), ``"upper"`` or ``"lower"``.
    type
        ``"binomial"``: exact binomial test of the number of residuals within
        ``1 / (n_sim + 1)`` of 0 or 1 against the rate ``1 / (n_sim + 1)`` per margin
        (exact for continuous responses, approximate for integer ones).
        ``"bootstrap"``: the outlier frequency against that of simulated responses
        treated as observed (``n_boot`` replicates; DHARMa's recommendation for integer
        responses).  ``"default"``: as DHARMa, the bootstrap for integer responses
        with fewer than 500 observations, else the binomial test.
    n_boot
        Bootstrap replicates (at most ``n_sim``).
    seed
        Seed of the bootstrap.

    Returns
    -------
    ResidualTestResult
        Statistic: the number of outliers; ``details["frequency"]`` and
        ``details["expected"]`` their observed and expected frequency.
    """
    sr = ensure_residuals(res, "test_outliers")
    alternative = _alternative(alternative)
    if margin not in ("both", "upper", "lower"):
        raise ValueError(f"margin must be 'both', 'upper' or 'lower', got {margin!r}")
    if type == "default":
        type = "bootstrap" if sr.integer_response and sr.n_obs < 500 else "binomial"
    r: FloatArray = np.asarray(sr.residuals.to_numpy(), dtype=np.float64)
    n_sim, n_obs = sr.n_sim, sr.n_obs
    if type == "binomial":
        edge = 1.0 / (n_sim + 1)
        low, high = int(np.sum(r < edge)), int(np.sum(r > 1.0 - edge))
        k = {"both": low + high, "upper": high, "lower": low}[margin]
        p0 = edge * (2 if margin == "both" else 1)
        test = stats.binomtest(k, n_obs, p0, alternative=_SCIPY_ALTERNATIVE[alternative])
        return ResidualTestResult(
            method="DHARMa outlier test based on exact binomial test with approximate expectations",
            statistic=float(k),
            p_value=float(test.pvalue),
            alternative=alternative,
            statistic_name=f"outliers at {margin} margin(s)",
            details={"frequency": k / n_obs, "expected": p0, "observations": n_obs},
        )
    if type != "bootstrap":
        raise ValueError(f"unknown type {type!r}; use 'default', 'binomial' or 'bootstrap'")

    def frequency(x: FloatArray) -> float:
        lo, hi = float(np.mean(x == 0)), float(np.mean(x == 1))
        return {"both": lo + hi, "upper": hi, "lower": lo}[margin]

    from ._residuals import get_quantile

    rng = np.random.default_rng(seed)
    n_boot = min(int(n_boot), n_sim)
    sims = sr.simulated
    boot = np.empty(n_boot)
    others = np.arange(n_sim)
    for i in range(n_boot):  # a loop over replicates; each is vectorised over rows
        sel = rng.choice(others[others != i], size=n_sim, replace=True)
        boot[i] = frequency(
            get_quantile(sims[:, sel], sims[:, i], rng, sr.integer_response, sr.method)
        )
    observed = frequency(r)
    return ResidualTestResult(
        method="DHARMa bootstrapped outlier test",
        statistic=observed * n_obs,
        p_value=get_p(boot, observed, alternative),
        alternative=alternative,
        statistic_name=f"outliers at {margin} margin(s)",
        details={
            "frequency": observed,
            "expected": float(np.mean(boot)),
            "observations": n_obs,
            "bootstrap": boot,
            "conf_int": tuple(np.quantile(boot, [0.025, 0.975])),
        },
    )


# --- quantiles ------------------------------------------------------------------------------
def _rank01(x: FloatArray) -> FloatArray:
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
    t = _rank01(pred)
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
        p_values[j] = float(np.nanmin(_bh(np.array([p_level, p_shape]))))
        if curves:
            try:
                beta = quantile_regression(basis, r, tau)
                preds[f"q{tau:g}"] = _basis(grid, k, values.size, values) @ beta
            except RuntimeError:
                preds[f"q{tau:g}"] = np.nan
    return ResidualTestResult(
        method="Test for location of quantiles via B-spline quantile regression (rank score)",
        statistic=math.nan,
        p_value=float(np.nanmin(_bh(p_values))),
        alternative="two.sided",
        statistic_name="",
        details={
            "p_values": p_values,
            "quantiles": tuple(quantiles),
            "predictions": preds if curves else None,
        },
    )


# --- autocorrelation ------------------------------------------------------------------------
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
    alternative = _alternative(alternative)
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
    alternative = _alternative(alternative)
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


# --- the registered diagnostic ---------------------------------------------------------------
COUNT_FAMILIES = frozenset({"poisson", "negative_binomial"})


def _verdict(p: float) -> str:
    if not np.isfinite(p):
        return "ok"
    return "problem" if p < 0.01 else ("warning" if p < 0.05 else "ok")


class DharmaDiagnostic(Diagnostic):
    """DHARMa's residual checks on simulated scaled residuals: uniformity (KS),
    dispersion, outliers, and zero inflation for count families."""

    name: ClassVar[str] = "dharma"
    description: ClassVar[str] = (
        "simulation-based scaled residuals (DHARMa): uniformity, dispersion, outliers, "
        "zero inflation"
    )

    def supports(self, result: Any) -> str | None:
        try:
            return unsupported_reason(result)
        except Exception as exc:  # must never raise
            return f"cannot inspect the result: {exc}"

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        from ._residuals import simulate_residuals

        n = int(options.get("n", 250))
        seed = options.get("seed")
        sr = simulate_residuals(
            result, n=n, seed=seed, conditional=bool(options.get("conditional", False))
        )
        checks = [
            (
                "uniformity",
                test_uniformity(sr),
                "the scaled residuals are not uniform: the distribution of the response "
                "does not match the model (KS test)",
            ),
            (
                "dispersion",
                test_dispersion(sr),
                "the residual spread differs from the simulated one: over- (statistic > 1) "
                "or underdispersion (< 1)",
            ),
            (
                "outliers",
                test_outliers(sr, type="binomial"),
                "more (or fewer) observations outside the simulation envelope than expected",
            ),
        ]
        if sr.family in COUNT_FAMILIES:
            checks.append(
                (
                    "zero_inflation",
                    test_zero_inflation(sr),
                    "the number of zeros differs from the simulated one (ratio > 1: zero "
                    "inflation)",
                )
            )
        rows = []
        for check, out, problem in checks:
            verdict = _verdict(out.p_value)
            rows.append(
                {
                    "check": check,
                    "statistic": out.statistic,
                    "p_value": out.p_value,
                    "verdict": verdict,
                    "message": problem if verdict != "ok" else "",
                    "method": out.method,
                }
            )
        return pd.DataFrame(rows)


DIAGNOSTICS: list[Diagnostic] = [DharmaDiagnostic()]
