"""Confidence intervals of GLMMs against lme4's confint(glmer_fit)
(tools/reference/glmm_confint.R; R 4.2.2, lme4 1.1-31)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import mixedmodels as mm

REF = json.loads((Path(__file__).parents[1] / "reference" / "glmm_confint.json").read_text())
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + HEIGHT_s + (1 | BROOD) + (1 | LOCATION)"


@pytest.fixture(scope="module")
def cbpp_fit():
    return mm.glmm(CBPP, mm.datasets.load("cbpp"), family="binomial")


def _profile_matches(fit, ref, rel=1e-3):
    ci = fit.confint(progress=False)
    want = np.array(list(ref["profile"].values()), dtype=float)
    # Relative to the end's size, with a floor for ends near zero (a variance on its
    # lower bound is exactly 0 in both).
    err = np.abs(ci.to_numpy() - want) / np.maximum(np.abs(want), 0.1)
    assert err.max() < rel, (ci, want)
    return ci


def test_profile_laplace_cbpp(cbpp_fit):
    ci = _profile_matches(cbpp_fit, REF["cbpp_laplace"])  # observed <= 6e-5
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    assert list(ci.index) == ["sd_(Intercept)|herd", "(Intercept)", "period2", "period3", "period4"]
    # lme4's old names select the same rows; the fit's modes are left at the optimum.
    old = cbpp_fit.confint(parm=".sig01", progress=False)
    assert old.index.tolist() == ["sd_(Intercept)|herd"]
    np.testing.assert_allclose(old.to_numpy(), ci.iloc[:1].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(
        cbpp_fit.fitted().to_numpy(),
        mm.glmm(CBPP, mm.datasets.load("cbpp"), family="binomial").fitted().to_numpy(),
        rtol=1e-8,
    )


def test_profile_adaptive_quadrature_cbpp():
    fit = mm.glmm(CBPP, mm.datasets.load("cbpp"), family="binomial", nagq=25)
    _profile_matches(fit, REF["cbpp_agq25"])  # observed 2e-6


def test_profile_two_crossed_terms_with_a_variance_at_zero():
    fit = mm.glmm(GROUSE, mm.datasets.load("grouseticks"), family="poisson")
    ci = _profile_matches(fit, REF["grouse_poisson"])  # observed 5e-5
    assert ci.loc["sd_(Intercept)|LOCATION", "2.5 %"] == 0.0


def test_wald_intervals(cbpp_fit):
    ci = cbpp_fit.confint(method="wald", level=0.9)
    z = stats.norm.ppf(0.95)
    fe, se = cbpp_fit.fixef, cbpp_fit.fixef_se
    np.testing.assert_allclose(ci.iloc[1:, 0], fe - z * se, rtol=1e-12)
    np.testing.assert_allclose(ci.iloc[1:, 1], fe + z * se, rtol=1e-12)
    assert ci.iloc[0].isna().all()  # as lme4: no Wald interval for an SD
    assert list(ci.columns) == ["5 %", "95 %"]
    # lme4's standard errors are ~1% smaller (its Hessian is on looser PIRLS
    # iterates; ours agrees with the Hessian of the exact gradient to 1e-4).
    want = np.array(list(REF["cbpp_laplace"]["wald"].values())[1:], dtype=float)
    ours = cbpp_fit.confint(method="wald").iloc[1:].to_numpy()
    np.testing.assert_allclose(ours, want, rtol=2e-2)


def test_bootstrap_intervals_are_reproducible(cbpp_fit):
    a = cbpp_fit.confint(method="boot", nsim=20, seed=3, progress=False)
    b = cbpp_fit.confint(method="boot", nsim=20, seed=3, progress=False)
    assert a.equals(b)
    assert "sigma" not in a.index  # a binomial GLMM has no residual SD
    inside = (a.iloc[1:, 0] < cbpp_fit.fixef) & (cbpp_fit.fixef < a.iloc[1:, 1])
    assert inside.all()


def test_profile_refuses_what_it_cannot_do():
    data = mm.datasets.load("grouseticks")
    nb = mm.glmm("TICKS ~ YEAR + (1 | BROOD)", data, family="negative_binomial")
    with pytest.raises(NotImplementedError, match="size or dispersion"):
        nb.confint(progress=False)
    fast = mm.glmm(CBPP, mm.datasets.load("cbpp"), family="binomial", nagq=0)
    with pytest.raises(NotImplementedError, match="nagq >= 1"):
        fast.confint(progress=False)
    assert nb.confint(method="wald").shape == (4, 2)
