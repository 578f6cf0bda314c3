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
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from ._residual_test_result import SCIPY_ALTERNATIVE, ResidualTestResult, check_alternative, get_p
from ._residuals import ensure_residuals, get_quantile

FloatArray = NDArray[np.float64]

__all__ = ["test_dispersion", "test_outliers", "test_uniformity", "test_zero_inflation"]


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
    alternative = check_alternative(alternative)
    r = sr.residuals.to_numpy()
    exact = r.size < 100 and np.unique(r).size == r.size
    scipy_alt = SCIPY_ALTERNATIVE[alternative]
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
    alternative = check_alternative(alternative)
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
    alternative = check_alternative(alternative)
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
    alternative = check_alternative(alternative)
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
        test = stats.binomtest(k, n_obs, p0, alternative=SCIPY_ALTERNATIVE[alternative])
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
