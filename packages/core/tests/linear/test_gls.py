"""Generalized least squares (nlme's ``gls``): the API, the tidiers and nlme's
intervals on the shared reference case ``gls_orthodont_compsymm_reml``.

Tolerances: log-likelihood 1e-6 relative, estimates 1e-4, intervals (t quantiles on
``n - p`` df for the coefficients, Wald on nlme's scales for the rest) 1e-4 for the
coefficients and 2e-3 for the variance parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm

REFERENCE = Path(__file__).parents[1] / "reference"
CASE = json.loads((REFERENCE / "gls_orthodont_compsymm_reml.json").read_text())["results"]


@pytest.fixture(scope="module")
def fit() -> mm.GLSResult:
    data = mm.datasets.load("Orthodont")
    return mm.gls("distance ~ age + Sex", data, correlation="cs(1 | Subject)")


def test_reference_case(fit: mm.GLSResult) -> None:
    assert fit.loglik == pytest.approx(CASE["logLik"], rel=1e-6)
    assert fit.aic == pytest.approx(CASE["AIC"], rel=1e-6)
    assert fit.bic == pytest.approx(CASE["BIC"], rel=1e-6)
    for name, value in CASE["coef"].items():
        assert fit.fixef[name] == pytest.approx(value, rel=1e-4)
        assert fit.fixef_se[name] == pytest.approx(CASE["coef_se"][name], rel=1e-4)
    np.testing.assert_allclose(fit.vcov.to_numpy(), CASE["vcov"]["values"], rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(fit.fitted().to_numpy()[:10], CASE["fitted_first10"], rtol=1e-6)


def test_tidy_has_nlmes_t_tests_and_intervals(fit: mm.GLSResult) -> None:
    tidy = mm.tidy(fit, conf_int=True)
    fixed = tidy[tidy.effect == "fixed"].set_index("term")
    ref = CASE["intervals_95"]["coef"]
    for name, (lo, _, hi) in zip(ref["rownames"], ref["values"], strict=True):
        assert fixed.loc[name, "conf.low"] == pytest.approx(lo, rel=1e-4)
        assert fixed.loc[name, "conf.high"] == pytest.approx(hi, rel=1e-4)
    assert (fixed["df"] == fit.nobs - 3).all()
    table = CASE["tTable"]
    p_values = dict(zip(table["rownames"], [row[3] for row in table["values"]], strict=True))
    for name, p in p_values.items():
        assert fixed.loc[name, "p.value"] == pytest.approx(p, rel=1e-3)
    pars = tidy[tidy.effect == "ran_pars"].set_index("term")
    lo, _, hi = CASE["intervals_95"]["corStruct"]["values"][0]
    assert pars.loc["Rho", "conf.low"] == pytest.approx(lo, rel=2e-3)
    assert pars.loc["Rho", "conf.high"] == pytest.approx(hi, rel=2e-3)
    sig = CASE["intervals_95"]["sigma"]
    assert pars.loc["sd__Observation", "conf.low"] == pytest.approx(sig["lower"], rel=2e-3)
    assert pars.loc["sd__Observation", "conf.high"] == pytest.approx(sig["upper"], rel=2e-3)
    glance = mm.glance(fit)
    assert glance["logLik"].iloc[0] == pytest.approx(CASE["logLik"], rel=1e-6)
    assert len(mm.augment(fit)) == fit.nobs


def test_summary_and_repr(fit: mm.GLSResult) -> None:
    text = fit.summary()
    assert "Generalized least squares fit by REML" in text
    assert "Rho = 0.614491" in text
    assert "GLSResult REML" in repr(fit)


def test_one_group_without_a_grouping_factor() -> None:
    """Without a group, as nlme, all observations are one series."""
    ovary = mm.datasets.load("Ovary")
    mare1 = ovary[ovary["Mare"] == "1"]
    a = mm.gls("follicles ~ sin(2*pi*Time) + cos(2*pi*Time)", mare1, correlation="ar1()")
    b = mm.gls(
        "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)", mare1.assign(g="x"), correlation="ar1(1 | g)"
    )
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)


def test_gls_is_a_registered_estimator() -> None:
    data = mm.datasets.load("Orthodont")
    fit = mm.Model("distance ~ age", data, correlation="ar1(1 | Subject)").fit(
        method="gls", reml=False
    )
    assert not fit.reml
    ref = mm.gls("distance ~ age", data, correlation="ar1(1 | Subject)", reml=False)
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-12)


def test_gls_without_correlation_or_variance_is_ordinary_least_squares():
    """No residual parameters to optimise (used to crash inside scipy's bounds); nlme's
    gls(Reaction ~ Days, sleepstudy): logLik -946.8318317361, sigma 47.7147197438."""
    fit = mm.gls("Reaction ~ Days", mm.datasets.load("sleepstudy"))
    assert fit.loglik == pytest.approx(-946.8318317361, rel=1e-9)
    assert fit.sigma == pytest.approx(47.7147197438, rel=1e-9)
    assert fit.converged
