"""Tests of the broom.mixed-style tidiers (:mod:`mixedmodels.output.tidiers`).

Expected numbers come from R 4.2.2, lme4 1.1-31 and broom.mixed (``tidy``, ``glance``,
``augment`` of ``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)``), computed once
and copied here.  Parameters are compared at 1e-4 relative (the criteria are flat near
the optimum; see the estimator tests), criteria at 1e-6.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.interfaces import Tidier

# Private: the LMM tidier functions and their registration record are tested directly.
from mixedmodels.output.tidiers import (
    augment_lmm,
    glance_lmm,
    hat_values,
    tidy_lmm,
)
from mixedmodels.results import LMMResult
from mixedmodels.results.tidiers import LMM_TIDIERS

PARAM_RTOL = 1e-4
CRIT_RTOL = 1e-6
FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fit(sleep: pd.DataFrame) -> Any:
    return mm.lmm(FORMULA, sleep)


@pytest.fixture(scope="module")
def fit_ml(sleep: pd.DataFrame) -> Any:
    return mm.lmm(FORMULA, sleep, reml=False)


def test_registered_for_lmm_result(fit: Any) -> None:
    assert [Tidier(LMMResult, tidy_lmm, glance_lmm, augment_lmm)] == LMM_TIDIERS
    pd.testing.assert_frame_equal(mm.tidy(fit), tidy_lmm(fit))
    pd.testing.assert_frame_equal(mm.glance(fit), glance_lmm(fit))
    pd.testing.assert_frame_equal(mm.augment(fit), augment_lmm(fit))


def test_tidy_default_matches_broom_mixed(fit: Any) -> None:
    # broom.mixed: tidy(m) of an lme4 fit (no df): ddf="none"
    t = mm.tidy(fit, ddf="none")
    assert list(t.columns) == ["effect", "group", "term", "estimate", "std.error", "statistic"]
    assert t["effect"].tolist() == ["fixed"] * 2 + ["ran_pars"] * 4
    assert t["group"].tolist() == [None, None, "Subject", "Subject", "Subject", "Residual"]
    assert t["term"].tolist() == [
        "(Intercept)",
        "Days",
        "sd__(Intercept)",
        "cor__(Intercept).Days",
        "sd__Days",
        "sd__Observation",
    ]
    np.testing.assert_allclose(
        t["estimate"],
        [
            251.405104848484967,
            10.467285959595987,
            24.740657994984062,
            0.065551238238128209,
            5.922137658898081,
            25.59179572167535,
        ],
        rtol=PARAM_RTOL,
    )
    np.testing.assert_allclose(
        t["std.error"][:2], [6.8245966949549057, 1.5457896439059811], rtol=PARAM_RTOL
    )
    np.testing.assert_allclose(
        t["statistic"][:2], [36.8380896462843879, 6.7714814889991812], rtol=PARAM_RTOL
    )
    assert t[["std.error", "statistic"]].iloc[2:].isna().all().all()


def test_tidy_conf_int_is_wald_for_fixed_and_nan_for_ran_pars(fit: Any) -> None:
    # broom.mixed: tidy(m, conf.int = TRUE)
    t = mm.tidy(fit, conf_int=True)
    assert list(t.columns[-2:]) == ["conf.low", "conf.high"]
    np.testing.assert_allclose(
        t["conf.low"][:2], [238.0291411173622578, 7.4375939298652698], rtol=PARAM_RTOL
    )
    np.testing.assert_allclose(
        t["conf.high"][:2], [264.781068579607677, 13.496977989326705], rtol=PARAM_RTOL
    )
    assert t[["conf.low", "conf.high"]].iloc[2:].isna().all().all()
    # A narrower level gives a narrower interval, centred on the estimate.
    t80 = mm.tidy(fit, effects="fixed", conf_int=True, conf_level=0.8)
    width80 = t80["conf.high"] - t80["conf.low"]
    assert (width80 < (t["conf.high"] - t["conf.low"])[:2]).all()
    np.testing.assert_allclose((t80["conf.high"] + t80["conf.low"]) / 2, t80["estimate"])


def test_tidy_vcov_scale(fit: Any) -> None:
    # broom.mixed: tidy(m, effects = c("ran_pars", "fixed"), scales = c("vcov", NA))
    t = mm.tidy(fit, effects=["ran_pars", "fixed"], scales=["vcov", None])
    rp = t[t["effect"] == "ran_pars"]
    assert rp["term"].tolist() == [
        "var__(Intercept)",
        "cov__(Intercept).Days",
        "var__Days",
        "var__Observation",
    ]
    np.testing.assert_allclose(
        rp["estimate"],
        [612.1001580247688, 9.6044089511577564, 35.071714450938849, 654.9400082599608],
        rtol=PARAM_RTOL,
    )


def test_tidy_ml_vcov_scale(fit_ml: Any) -> None:
    # broom.mixed: tidy(m_ml, effects = "ran_pars", scales = "vcov")
    t = mm.tidy(fit_ml, effects="ran_pars", scales="vcov")
    np.testing.assert_allclose(
        t["estimate"],
        [565.476966132419193, 11.055122391953331, 32.681785248852677, 654.945705764191075],
        rtol=2e-4,  # the ML criterion is flatter still: lme4 stops short of the optimum
    )


def test_tidy_ran_vals_and_ran_coefs(fit: Any) -> None:
    # broom.mixed: tidy(m, effects = "ran_vals", conf.int = TRUE); tidy(m, effects = "ran_coefs")
    rv = mm.tidy(fit, effects="ran_vals", conf_int=True)
    assert list(rv.columns) == [
        "effect",
        "group",
        "level",
        "term",
        "estimate",
        "std.error",
        "conf.low",
        "conf.high",
    ]
    assert len(rv) == 36
    head = rv.iloc[:2]
    assert head["level"].tolist() == ["308", "309"]
    assert head["term"].tolist() == ["(Intercept)", "(Intercept)"]
    np.testing.assert_allclose(
        head["estimate"], [2.2585509499011551, -40.3987380788050885], rtol=1e-3
    )
    np.testing.assert_allclose(head["std.error"], 12.070856950514328, rtol=PARAM_RTOL)
    np.testing.assert_allclose(
        head["conf.high"], [25.916995835444219, -16.740293193262026], rtol=PARAM_RTOL
    )
    assert rv["term"].iloc[18] == "Days"
    np.testing.assert_allclose(rv["estimate"].iloc[18], 9.1989757655659, rtol=PARAM_RTOL)

    rc = mm.tidy(fit, effects="ran_coefs")
    assert list(rc.columns) == ["effect", "group", "level", "term", "estimate"]
    np.testing.assert_allclose(
        rc["estimate"].iloc[:2], [253.66365579838612, 211.00636676967989], rtol=PARAM_RTOL
    )


def test_tidy_row_order_is_broom_order_whatever_the_effects_order(fit: Any) -> None:
    t = mm.tidy(fit, effects=["ran_coefs", "ran_pars", "fixed", "ran_vals"])
    order = t["effect"].drop_duplicates().tolist()
    assert order == ["fixed", "ran_pars", "ran_vals", "ran_coefs"]


def test_tidy_bad_arguments(fit: Any) -> None:
    with pytest.raises(ValueError, match="unknown effect type"):
        mm.tidy(fit, effects=["fixed", "random"])
    with pytest.raises(ValueError, match="one \\(or None\\) for each effect"):
        mm.tidy(fit, scales=["vcov"])
    with pytest.raises(ValueError, match="unrecognised ran_pars scale"):
        mm.tidy(fit, effects="ran_pars", scales="log")
    with pytest.raises(ValueError, match="conf_level"):
        mm.tidy(fit, conf_int=True, conf_level=95)


def test_tidy_uncorrelated_terms_get_lme4_group_names(sleep: pd.DataFrame) -> None:
    # broom.mixed: tidy(lmer(Reaction ~ Days + (Days || Subject), sleepstudy))
    t = mm.tidy(mm.lmm("Reaction ~ Days + (Days || Subject)", sleep), effects="ran_pars")
    assert t["group"].tolist() == ["Subject", "Subject.1", "Residual"]
    assert t["term"].tolist() == ["sd__(Intercept)", "sd__Days", "sd__Observation"]
    np.testing.assert_allclose(
        t["estimate"],
        [25.0513283247761152, 5.9881866737229679, 25.5652792015695987],
        rtol=PARAM_RTOL,
    )


def test_glance_reml_and_ml(fit: Any, fit_ml: Any) -> None:
    # broom.mixed: glance(m); glance(m_ml)
    g = mm.glance(fit)
    assert list(g.columns) == [
        "nobs",
        "sigma",
        "logLik",
        "AIC",
        "BIC",
        "REMLcrit",
        "df.residual",
    ]
    assert g["nobs"].iloc[0] == 180 and g["df.residual"].iloc[0] == 174
    np.testing.assert_allclose(g["sigma"], 25.59179572167535, rtol=PARAM_RTOL)
    np.testing.assert_allclose(
        g[["logLik", "AIC", "BIC", "REMLcrit"]].to_numpy()[0],
        [-871.81413597997596, 1755.6282719599519, 1774.7860130652932, 1743.6282719599519],
        rtol=CRIT_RTOL,
    )
    gm = mm.glance(fit_ml)
    assert list(gm.columns) == ["nobs", "sigma", "logLik", "AIC", "BIC", "deviance", "df.residual"]
    np.testing.assert_allclose(
        gm[["logLik", "AIC", "BIC", "deviance"]].to_numpy()[0],
        [-875.96967224449543, 1763.9393444889909, 1783.0970855943322, 1751.9393444889909],
        rtol=CRIT_RTOL,
    )


def test_augment_matches_broom_mixed(fit: Any) -> None:
    # broom.mixed: augment(m)
    a = mm.augment(fit)
    assert list(a.columns) == [
        "Reaction",
        "Days",
        "Subject",
        ".fitted",
        ".resid",
        ".hat",
        ".cooksd",
        ".fixed",
        ".mu",
        ".offset",
        ".sqrtXwt",
        ".sqrtrwt",
        ".weights",
        ".wtres",
    ]
    assert len(a) == 180
    first = a.iloc[:3]
    np.testing.assert_allclose(
        first[".fitted"], [253.66365579838612, 273.32991752354803, 292.99617924870989], rtol=1e-6
    )
    np.testing.assert_allclose(
        first[".resid"],
        [-4.1036557983861144, -14.6252175235480308, -42.1955792487098904],
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        first[".fixed"], [251.40510484848497, 261.87239080808098, 272.33967676767696], rtol=1e-6
    )
    np.testing.assert_allclose(
        a[".hat"].iloc[[0, 49, 99, 179]],
        [0.22930403774026281, 0.29317718809853471, 0.29317718809853471, 0.29317718809853471],
        rtol=PARAM_RTOL,
    )
    np.testing.assert_allclose(a[".hat"].sum(), 29.022123950640413, rtol=PARAM_RTOL)
    np.testing.assert_allclose(
        a[".cooksd"].iloc[[0, 49, 99, 179]],
        [
            0.00496313251481503813,
            0.44000387323339001933,
            0.00025954703172924602,
            0.01286061600289898667,
        ],
        rtol=1e-3,
    )
    np.testing.assert_array_equal(a[".mu"], a[".fitted"])
    np.testing.assert_array_equal(a[".wtres"], a[".resid"])
    assert (a[".offset"] == 0).all()
    assert (a[[".sqrtXwt", ".sqrtrwt", ".weights"]] == 1).all().all()


def test_augment_with_weights(sleep: pd.DataFrame) -> None:
    # broom.mixed: augment(lmer(..., data = s2, weights = w)), w = rep(c(1, 2, 0.5), 60)
    data = sleep.assign(w=np.tile([1.0, 2.0, 0.5], 60))
    fit = mm.lmm(FORMULA, data, weights="w")
    a = mm.augment(fit)
    assert "w" not in a.columns  # not named in the formula
    first = a.iloc[:3]
    np.testing.assert_allclose(
        first[".hat"],
        [0.202471199819279246, 0.296667531498938597, 0.054932484002793741],
        rtol=PARAM_RTOL,
    )
    np.testing.assert_allclose(
        first[".cooksd"],
        [0.010781313560902209, 0.180461672272347468, 0.034077104098945647],
        rtol=1e-3,
    )
    np.testing.assert_allclose(first[".sqrtXwt"], [1.0, np.sqrt(2.0), np.sqrt(0.5)])
    np.testing.assert_allclose(first[".sqrtrwt"], [1.0, np.sqrt(2.0), np.sqrt(0.5)])
    np.testing.assert_allclose(first[".weights"], [1.0, 2.0, 0.5])
    np.testing.assert_allclose(
        first[".wtres"],
        [-6.8069044267807044, -20.2893070069941146, -27.5314208190219603],
        rtol=PARAM_RTOL,
    )
    np.testing.assert_allclose(mm.glance(fit)["REMLcrit"], 1754.0786693066825, rtol=CRIT_RTOL)


def test_hat_values_equal_the_dense_hat_matrix(fit: Any) -> None:
    # fitted = H y; the diagonal of H from the definition, by finite differences in y.
    model = fit.model
    X = model.X
    lam = [s.factor(fit.theta) for s in model.structures]
    term = model.terms[0]
    n, q = fit.nobs, term.n_levels * term.dim
    zl = np.zeros((n, q))
    for r in range(n):
        zl[r, term.codes[r] * term.dim : (term.codes[r] + 1) * term.dim] = term.Z[r] @ lam[0]
    W = np.hstack([zl, X])
    M = W.T @ W + np.diag(np.r_[np.ones(q), np.zeros(X.shape[1])])
    H = W @ np.linalg.solve(M, W.T)
    np.testing.assert_allclose(hat_values(fit), np.diag(H), rtol=1e-10)
    np.testing.assert_allclose(H @ model.response, fit.fitted().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(hat_values(fit, chunk=7), np.diag(H), rtol=1e-10)


def test_augment_hat_can_be_switched_off(fit: Any) -> None:
    a = mm.augment(fit, hat=False)
    assert ".hat" not in a.columns and ".cooksd" not in a.columns


def test_augment_data_with_dropped_rows_gets_nan(sleep: pd.DataFrame) -> None:
    data = sleep.copy()
    data.loc[[3, 10], "Reaction"] = np.nan
    with pytest.warns(UserWarning, match="2 rows"):
        fit = mm.lmm(FORMULA, data)
    default = mm.augment(fit)
    assert len(default) == 178
    full = mm.augment(fit, data=data)
    assert len(full) == 180
    assert full[".fitted"].isna().sum() == 2
    assert full.loc[[3, 10], ".fitted"].isna().all()
    np.testing.assert_allclose(full[".fitted"].dropna(), default[".fitted"])


def test_augment_positional_data_and_mismatch(fit: Any, sleep: pd.DataFrame) -> None:
    other = sleep.reset_index(drop=True)
    other.index = other.index + 1000  # labels unknown to the fit, same length
    a = mm.augment(fit, data=other)
    assert len(a) == 180
    np.testing.assert_allclose(a[".fitted"], mm.augment(fit)[".fitted"])
    with pytest.raises(ValueError, match="rows used in fitting"):
        mm.augment(fit, data=other.iloc[:10])


def test_augment_newdata_predictions(fit: Any, sleep: pd.DataFrame) -> None:
    new = sleep.iloc[[0, 1, 2]]
    a = mm.augment(fit, newdata=new)
    assert list(a.columns) == ["Reaction", "Days", "Subject", ".fitted", ".fixed"]
    np.testing.assert_allclose(a[".fitted"], mm.augment(fit)[".fitted"].iloc[:3])
    np.testing.assert_allclose(
        a[".fixed"], [251.40510484848497, 261.87239080808098, 272.33967676767696], rtol=1e-6
    )
