"""Calibration of the scaled residuals and of the dispersion and zero-inflation tests.

Data are simulated from known GLMMs (200 rows, 20 groups, a random intercept).

* Under the true model (simulations given the true random effects, so that the
  observations are independent), the KS p-values of the scaled residuals over 200
  replicates are uniform; two wrong implementations (no randomisation over ties, the
  fitted value in place of the simulations) are rejected.
* Fitted with this package, the residuals pooled over 200 replicates are uniform; the
  per-replicate KS p-values are conservative (estimating the parameters makes the
  residuals more uniform than uniform, the Lilliefors effect, as with DHARMa) but
  never anti-conservative; the wrong variants are rejected every time.
* Overdispersed data (an observation-level random effect) and zero-inflated data
  fitted as Poisson: the dispersion and zero-inflation tests reject in at least 90% of
  100 replicates.
"""

from __future__ import annotations

import mixedmodels_diagnostics as mmd
import numpy as np
import pandas as pd
import pytest
from mixedmodels_diagnostics._residuals import get_quantile
from scipy import stats

import mixedmodels as mm

N, GROUPS, NSIM = 200, 20, 250
CODES = np.repeat(np.arange(GROUPS), N // GROUPS)
LABELS = CODES.astype(str)
QUANTILES = np.linspace(0.1, 0.9, 9)


def _draw(rng: np.random.Generator, family: str, eta: np.ndarray) -> np.ndarray:
    if family == "poisson":
        return rng.poisson(np.exp(eta)).astype(float)
    return rng.binomial(1, 1.0 / (1.0 + np.exp(-eta))).astype(float)


def _fixed(rng: np.random.Generator, family: str) -> np.ndarray:
    x = rng.normal(size=N)
    return (0.5 if family == "poisson" else 0.0) + 0.5 * x, x


def _variants(observed: np.ndarray, sims: np.ndarray, fitted: np.ndarray, seed: int):
    """The right residuals and two wrong ones."""
    rng = np.random.default_rng(seed)
    return {
        "pit": get_quantile(sims, observed, rng),
        "no_randomisation": np.mean(sims < observed[:, None], axis=1),
        "fitted_not_simulated": get_quantile(
            np.repeat(fitted[:, None], sims.shape[1], axis=1), observed, rng
        ),
    }


def _ks_p(r: np.ndarray) -> float:
    return float(stats.kstest(r, "uniform").pvalue)


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_residuals_of_the_true_model_give_uniform_ks_p_values(family: str) -> None:
    rng = np.random.default_rng(11 if family == "poisson" else 12)
    p = {k: [] for k in ("pit", "no_randomisation", "fitted_not_simulated")}
    for rep in range(200):
        fixed, _ = _fixed(rng, family)
        eta = fixed + rng.normal(0, 0.5, GROUPS)[CODES]
        y = _draw(rng, family, eta)
        sims = _draw(rng, family, np.repeat(eta[:, None], NSIM, axis=1))
        mean = np.exp(eta) if family == "poisson" else 1 / (1 + np.exp(-eta))
        for k, r in _variants(y, sims, mean, rep).items():
            p[k].append(_ks_p(r))
    assert _ks_p(np.array(p["pit"])) > 1e-3
    assert abs(np.mean(np.array(p["pit"]) < 0.05) - 0.05) < 0.05
    for wrong in ("no_randomisation", "fitted_not_simulated"):
        assert _ks_p(np.array(p[wrong])) < 1e-6, wrong


@pytest.fixture(scope="module", params=["poisson", "binomial"])
def fitted_runs(request: pytest.FixtureRequest) -> tuple[str, dict[str, list[np.ndarray]]]:
    family = request.param
    rng = np.random.default_rng(21 if family == "poisson" else 22)
    runs: dict[str, list[np.ndarray]] = {
        k: [] for k in ("pit", "no_randomisation", "fitted_not_simulated", "package")
    }
    for rep in range(200):
        fixed, x = _fixed(rng, family)
        y = _draw(rng, family, fixed + rng.normal(0, 0.5, GROUPS)[CODES])
        data = pd.DataFrame({"y": y, "x": x, "g": LABELS})
        fit = mm.glmm("y ~ x + (1|g)", data, family=family)
        res = mmd.simulate_residuals(fit, n=NSIM, seed=rep)
        runs["package"].append(res.residuals.to_numpy())
        for k, r in _variants(res.observed, res.simulated, res.fitted, rep).items():
            runs[k].append(r)
    return family, runs


def test_fitted_model_residuals_are_uniform_when_pooled(fitted_runs) -> None:
    family, runs = fitted_runs
    pooled = np.concatenate(runs["package"])
    deviation = np.abs(np.mean(pooled[:, None] < QUANTILES, axis=0) - QUANTILES)
    assert deviation.max() < 0.012, (family, deviation)
    for wrong in ("no_randomisation", "fitted_not_simulated"):
        pooled = np.concatenate(runs[wrong])
        deviation = np.abs(np.mean(pooled[:, None] < QUANTILES, axis=0) - QUANTILES)
        assert deviation.max() > 0.1, (family, wrong)


def test_fitted_model_ks_p_values_are_not_anticonservative(fitted_runs) -> None:
    family, runs = fitted_runs
    p = np.array([_ks_p(r) for r in runs["package"]])
    # Type-I error at most nominal (plus Monte Carlo error), and no excess of small
    # p-values (one-sided KS of the p-values against the uniform).
    assert np.mean(p < 0.05) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / p.size), family
    assert stats.kstest(p, "uniform", alternative="greater").pvalue > 1e-3, family
    for wrong in ("no_randomisation", "fitted_not_simulated"):
        p_wrong = np.array([_ks_p(r) for r in runs[wrong]])
        assert np.mean(p_wrong < 0.05) > 0.9, (family, wrong)
        assert _ks_p(p_wrong) < 1e-6


def _rejection_rate(make_y, test, conditional: bool, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for rep in range(100):
        x = rng.normal(size=N)
        y = make_y(rng, x)
        fit = mm.glmm("y ~ x + (1|g)", pd.DataFrame({"y": y, "x": x, "g": LABELS}), "poisson")
        res = mmd.simulate_residuals(fit, n=NSIM, seed=rep, conditional=conditional)
        hits += test(res).p_value < 0.05
    return hits / 100


def test_dispersion_test_detects_overdispersion() -> None:
    def overdispersed(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
        # An observation-level random effect: overdispersion the Poisson model lacks.
        eta = 1.0 + 0.5 * x + rng.normal(0, 0.4, GROUPS)[CODES] + rng.normal(0, 0.8, N)
        return rng.poisson(np.exp(eta)).astype(float)

    # Conditional simulations, as DHARMa recommends for the dispersion test of mixed
    # models (unconditional ones attribute part of the excess to the random effects).
    rate = _rejection_rate(overdispersed, mmd.test_dispersion, True, 31)
    assert rate >= 0.9, rate


def test_zero_inflation_test_detects_zero_inflation() -> None:
    def zero_inflated(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
        eta = 1.2 + 0.3 * x + rng.normal(0, 0.3, GROUPS)[CODES]
        y = rng.poisson(np.exp(eta)).astype(float)
        return np.where(rng.random(N) < 0.3, 0.0, y)

    rate = _rejection_rate(zero_inflated, mmd.test_zero_inflation, False, 41)
    assert rate >= 0.9, rate
