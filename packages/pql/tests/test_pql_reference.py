"""glmmPQL against MASS::glmmPQL (R 4.2.2, MASS 7.3-58.2, nlme 3.1-162).

Fixed effects, their (nlme-adjusted) standard errors and the variance components to
1e-4 relative, as the issue asks; the AR(1) parameter to 1e-5 absolute (it is 0.016,
and nlme's optimiser stops ~3e-6 from the optimum).
"""

from __future__ import annotations

import numpy as np
import pytest
from mixedmodels_pql import PQLResult, glmmPQL
from pql_testdata import bacteria, cbpp, epil, load_case

import mixedmodels as mm

REL = 1e-4


def _check(fit: PQLResult, ref: dict, tt_key: str = "tTable") -> None:
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=REL)
    assert list(fit.fixef.index) == list(ref["fixef"])
    table = ref[tt_key]
    ct = fit.coef_table()
    np.testing.assert_allclose(ct["Std.Error"], [r[1] for r in table["values"]], rtol=REL)
    assert ct["DF"].tolist() == [r[2] for r in table["values"]]
    np.testing.assert_allclose(ct["p-value"], [r[4] for r in table["values"]], rtol=1e-3)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=REL)


def test_cbpp_binomial():
    ref = load_case("glmmpql_cbpp_binomial")["results"]
    fit = glmmPQL("cbind(incidence, size - incidence) ~ period", "~ 1 | herd", "binomial", cbpp())
    _check(fit, ref)
    vc = fit.varcorr()
    assert vc["sdcor"].iloc[0] == pytest.approx(
        ref["varcorr"]["herd"]["sd"]["(Intercept)"], rel=REL
    )
    np.testing.assert_allclose(fit.fitted().to_numpy()[:10], ref["fitted_first10"], rtol=REL)
    np.testing.assert_allclose(
        fit.fitted(level=0).to_numpy()[:10], ref["fitted_level0_first10"], rtol=REL
    )
    np.testing.assert_allclose(
        fit.fitted(type="response").to_numpy()[:10], ref["predict_response_first10"], rtol=REL
    )
    re = fit.ranef()
    re = re["herd"] if isinstance(re, dict) else re
    cond = ref["ranef"]["herd"]["terms"]["(Intercept)"]["condval"]
    np.testing.assert_allclose(np.asarray(re["(Intercept)"])[:10], cond, rtol=1e-3, atol=1e-5)
    assert fit.converged


@pytest.mark.parametrize(
    ("case", "correlation"), [("glmmpql_bacteria", None), ("glmmpql_bacteria_ar1", "ar1(1 | ID)")]
)
def test_bacteria(case, correlation):
    ref = load_case(case)
    fit = glmmPQL(
        "y ~ trt + I(week > 2)", "~ 1 | ID", "binomial", bacteria(), correlation=correlation
    )
    _check(fit, ref)
    sd = [r[1] for r in ref["varcorr"]["values"]]
    # nlme prints VarCorr to 7 significant digits
    np.testing.assert_allclose(fit.varcorr()["sdcor"].to_numpy(), sd, rtol=REL)
    # linear predictors near zero: 1e-4 of the largest |eta| as the absolute floor
    np.testing.assert_allclose(fit.fitted().to_numpy(), ref["fitted"], rtol=REL, atol=2e-5)
    if correlation:
        sp = fit.structure_parameters()
        phi = float(sp.loc[sp["effect"] == "cor_pars", "estimate"].iloc[0])
        assert phi == pytest.approx(ref["corStruct"], abs=1e-5)


def test_epil_poisson():
    ref = load_case("glmmpql_epil_poisson")
    fit = glmmPQL("y ~ lbase * trt + lage + V4", "~ 1 | subject", "poisson", epil())
    _check(fit, ref)


def test_quasi_likelihood_has_no_loglik():
    fit = glmmPQL("cbind(incidence, size - incidence) ~ period", "~ 1 | herd", "binomial", cbpp())
    assert np.isnan(fit.loglik) and np.isnan(fit.aic) and np.isnan(fit.bic)
    text = fit.summary()
    assert "quasi-likelihood" in text and "NA  NA     NA" in text
    assert np.isnan(mm.glance(fit)["logLik"].iloc[0])
    tab = mm.tidy(fit)
    assert tab["effect"].tolist() == ["fixed"] * 4 + ["ran_pars"] * 2


def test_estimator_hook_matches_glmmpql():
    a = glmmPQL("cbind(incidence, size - incidence) ~ period", "~ 1 | herd", "binomial", cbpp())
    b = mm.Model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp(), family="binomial"
    ).fit(method="pql")
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-12)


def test_conformance_kit():
    from mixedmodels_pql import PQLEstimator

    from mixedmodels.testing import check_estimator

    def factory(seed):
        d = cbpp()
        if seed is not None:
            d = d.iloc[np.random.default_rng(seed).permutation(len(d))]
        return mm.Model(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial"
        )

    check_estimator(PQLEstimator(), factory, has_likelihood=False)
