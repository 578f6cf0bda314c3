"""``deviance_function()`` (lme4's ``getME(fit, "devfun")``), ``response`` and
``prior_weights``: what plugins read instead of the private criterion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.mark.parametrize("reml", [True, False])
def test_lmm_deviance_function_is_the_criterion_at_the_optimum(
    sleep: pd.DataFrame, reml: bool
) -> None:
    fit = mm.lmm(SLEEP, sleep, reml=reml)
    devfun = fit.deviance_function()
    assert devfun(fit.theta) == pytest.approx(-2.0 * fit.loglik, rel=1e-12)
    assert devfun(fit.theta * 1.1) > devfun(fit.theta)


@pytest.mark.parametrize("nagq", [1, 5])
def test_glmm_deviance_function_is_minus_2_loglik_and_order_free(
    cbpp: pd.DataFrame, nagq: int
) -> None:
    fit = mm.glmm(CBPP, cbpp, family="binomial", nagq=nagq)
    devfun = fit.deviance_function()
    x = np.concatenate([fit.theta, fit.fixef.to_numpy()])
    first = devfun(x)
    assert first == pytest.approx(fit.minus2loglik, rel=1e-8)
    far = x.copy()
    far[0] *= 3.0
    assert devfun(far) > first
    assert devfun(x) == first  # each call starts from the modes at the estimates


def test_glmm_response_and_prior_weights_are_lme4s(cbpp: pd.DataFrame) -> None:
    fit = mm.glmm(CBPP, cbpp, family="binomial")
    np.testing.assert_array_equal(fit.prior_weights, cbpp["size"].to_numpy(float))
    np.testing.assert_allclose(fit.response, (cbpp["incidence"] / cbpp["size"]).to_numpy())
