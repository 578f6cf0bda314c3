"""Refits of a fitted model: ``refit(newresp)`` (lme4's ``refit``) and ``refit_ml()``
(lme4's ``refitML``)."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def sleepstudy():
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def reml_fit(sleepstudy):
    return mm.lmm(SLEEP, sleepstudy)


def test_refit_to_the_original_response_gives_the_same_estimates(reml_fit) -> None:
    again = reml_fit.refit(reml_fit.model.response)
    assert type(again) is type(reml_fit) and again.reml
    np.testing.assert_allclose(again.theta, reml_fit.theta, rtol=1e-5)
    np.testing.assert_allclose(again.fixef, reml_fit.fixef, rtol=1e-8)
    assert again.loglik == pytest.approx(reml_fit.loglik, rel=1e-10)


def test_refit_to_a_new_response_equals_a_fit_of_that_response(reml_fit, sleepstudy) -> None:
    y = reml_fit.simulate(1, seed=3).to_numpy()[:, 0]
    refitted = reml_fit.refit(y, check=True)
    data = sleepstudy.copy()
    data["Reaction"] = y
    direct = mm.lmm(SLEEP, data)
    np.testing.assert_allclose(refitted.theta, direct.theta, rtol=1e-5)
    np.testing.assert_allclose(refitted.fixef, direct.fixef, rtol=1e-7)
    assert refitted.loglik == pytest.approx(direct.loglik, rel=1e-10)
    # The original fit is untouched.
    assert reml_fit.model.response is not refitted.model.response


def test_refit_ml_equals_an_ml_fit(reml_fit, sleepstudy) -> None:
    ml = reml_fit.refit_ml()
    direct = mm.lmm(SLEEP, sleepstudy, reml=False)
    assert not ml.reml and ml.method == "ML"
    np.testing.assert_allclose(ml.theta, direct.theta, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ml.fixef, direct.fixef, rtol=1e-10)
    assert ml.loglik == pytest.approx(direct.loglik, rel=1e-10)
    assert direct.refit_ml() is direct


def test_gls_refits_are_gls_results(sleepstudy) -> None:
    fit = mm.gls("Reaction ~ Days", sleepstudy, correlation="ar1(Days | Subject)")
    again = fit.refit(fit.model.response)
    assert isinstance(again, mm.GLSResult)
    assert again.loglik == pytest.approx(fit.loglik, rel=1e-8)
    ml = fit.refit_ml()
    direct = mm.gls("Reaction ~ Days", sleepstudy, correlation="ar1(Days | Subject)", reml=False)
    assert isinstance(ml, mm.GLSResult)
    assert ml.loglik == pytest.approx(direct.loglik, rel=1e-10)


def test_glmm_refit_and_refit_ml() -> None:
    cbpp = mm.datasets.load("cbpp")
    fit = mm.glmm(CBPP, cbpp, family="binomial")
    assert fit.refit_ml() is fit
    again = fit.refit(fit.model.y)
    np.testing.assert_allclose(again.theta, fit.theta, rtol=1e-4)
    np.testing.assert_allclose(again.fixef, fit.fixef, rtol=1e-4)
    assert again.minus2loglik == pytest.approx(fit.minus2loglik, rel=1e-8)
    # A new response (proportions of the trials) as a fit of that response.
    y = fit.simulate(1, seed=5).to_numpy()[:, 0]
    refitted = fit.refit(y, check=True)
    data = cbpp.copy()
    data["incidence"] = np.rint(y * data["size"]).astype(int)
    direct = mm.glmm(CBPP, data, family="binomial")
    assert refitted.minus2loglik == pytest.approx(direct.minus2loglik, rel=1e-7)
    np.testing.assert_allclose(refitted.fixef, direct.fixef, rtol=1e-4, atol=1e-6)


def test_extending_refit_is_the_results_refit(reml_fit) -> None:
    from mixedmodels import extending

    y = reml_fit.simulate(1, seed=4).to_numpy()[:, 0]
    a = extending.refit(reml_fit, y)
    b = reml_fit.refit(y)
    np.testing.assert_array_equal(a.theta, b.theta)
