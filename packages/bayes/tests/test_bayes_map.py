"""blme's posterior mode (method="map") against blme 1.0-5.

blmer's default fit of the public case stops after 21 evaluations with lme4's
"failed to converge" warning, away from its optimum.  The checks: our penalised
criterion equals blme's at blme's estimate (and the fixed effects, sigma and
penalized RSS there equal blme's), R's blme criterion at our optimum equals ours,
and our optimum is lower than blme's point.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from bayes_refcheck import load_case
from mixedmodels_bayes import blmer
from mixedmodels_bayes._map import _at_theta, wishart_penalty

import mixedmodels as mm

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fit(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.Model(FORMULA, sleepstudy).fit(method="map")


def test_criterion_at_blme_estimate(fit, sleepstudy):
    case = load_case("blmer_sleepstudy_default_prior")
    extra = load_case("blme_map_reference")
    theta = np.array(list(case["theta"].values()))
    assert wishart_penalty(theta, [2]) == pytest.approx(case["devcomp_cmp"]["penalty"], rel=1e-10)
    assert fit.objective(theta) == pytest.approx(extra["blme_penalized_criterion"], rel=1e-6)
    model = mm.Model(FORMULA, sleepstudy)
    at = _at_theta(model, theta, reml=True)
    assert at["sigma"] == pytest.approx(case["sigma"], rel=1e-8)
    assert at["pwrss"] == pytest.approx(case["devcomp_cmp"]["pwrss"], rel=1e-8)
    for name, value in case["fixef"].items():
        assert at["fixef"][name] == pytest.approx(value, rel=1e-8)
    # lme4's REMLcrit of a blmerMod is the unpenalised criterion
    assert fit.objective(theta) - wishart_penalty(theta, [2]) == pytest.approx(
        case["REMLcrit"], rel=1e-6
    )


def test_optimum_matches_blme_criterion_and_beats_blme_fit(fit):
    extra = load_case("blme_map_reference")
    np.testing.assert_allclose(fit.theta, extra["ours_theta"], rtol=1e-4, atol=1e-6)
    assert fit.criterion == pytest.approx(extra["penalized_criterion_at_ours"], rel=1e-6)
    assert fit.criterion < extra["blme_penalized_criterion"] - 0.05
    grad = [
        (fit.objective(fit.theta + h) - fit.objective(fit.theta - h)) / 2e-6
        for h in np.eye(3) * 1e-6
    ]
    assert np.max(np.abs(grad)) < 1e-2


def test_map_result_api(fit, sleepstudy):
    assert fit.converged
    vc = fit.varcorr()
    assert list(vc["grp"]) == ["Subject", "Subject", "Subject", "Residual"]
    assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * fit.df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = blmer(FORMULA, sleepstudy)
    np.testing.assert_allclose(again.theta, fit.theta, rtol=1e-8)


def test_map_refuses_glmm(cbpp):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.Model(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"
        )
    with pytest.raises(ValueError, match="Gaussian model with identity link"):
        m.fit(method="map")
