"""More geepack comparisons (tools/reference/gee/gee_reference.R, epsilon 1e-12).

Families and links beyond the shipped cases, offsets, prior weights, ``cbind``
responses, time gaps, m-dependent and fixed structures, a fixed scale, the approximate
jackknife, ``anova`` and ``QIC``.  Our default algorithm iterates to the solution, so
the tolerances are tight.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from gee_helpers import (
    OHIO,
    RESPIRATORY,
    assert_rel,
    dataset,
    extra_reference,
    fit_spec,
    named_spec,
    values,
)
from mixedmodels_gee import MDependent, anova, gee

from mixedmodels.families import NegativeBinomial

COEF_TOL = 1e-7
SE_TOL = 1e-6


def _check(
    fit: Any, ref: dict[str, Any], name: str, nuisance: bool = True, alpha_se: bool = True
) -> None:
    assert_rel(fit.fixef, values(ref["coef"]), COEF_TOL, f"{name} coef")
    assert_rel(fit.fixef_se, values(ref["robust_se"]), SE_TOL, f"{name} robust se")
    assert_rel(fit.std_errors("naive"), values(ref["naive_se"]), SE_TOL, f"{name} naive se")
    assert fit.nobs == ref["nobs"]
    assert fit.n_clusters == ref["n_clusters"]
    if not nuisance:
        return
    assert_rel(fit.scale, ref["scale"], COEF_TOL, f"{name} scale")
    if not fit.scale_fixed:
        assert_rel(fit.scale_se, ref["scale_se"], SE_TOL, f"{name} scale se")
    if len(fit.corr_params):
        assert_rel(fit.corr_params, values(ref["alpha"]), COEF_TOL, f"{name} alpha")
        if alpha_se:
            assert_rel(fit.corr_params_se, values(ref["alpha_se"]), SE_TOL, f"{name} alpha se")


def more(name: str) -> dict[str, Any]:
    out: dict[str, Any] = extra_reference()["more"][name]
    return out


def test_poisson_with_offset_unsorted_rows() -> None:
    # geepack needed the rows sorted by brood; ours takes them as they come.
    d = dataset("grouseticks")
    fit = gee(
        "TICKS ~ YEAR + cHEIGHT + offset(log(HEIGHT))",
        d,
        groups="BROOD",
        family="poisson",
        corstr="exchangeable",
    )
    # geepack's alpha standard error is off with singleton clusters (it reuses the
    # previous cluster's blocks); checked below on the same data without them.
    assert (fit.cluster_sizes == 1).any()
    _check(fit, more("poisson_offset_exch"), "poisson offset", alpha_se=False)


def test_poisson_alpha_se_without_singleton_clusters() -> None:
    ref = more("poisson_offset_exch_no_singletons")
    d = dataset("grouseticks")
    d = d.loc[~d["BROOD"].isin(ref["singleton_broods"])]
    fit = gee(
        "TICKS ~ YEAR + cHEIGHT + offset(log(HEIGHT))",
        d,
        groups="BROOD",
        family="poisson",
        corstr="exchangeable",
    )
    assert (fit.cluster_sizes > 1).all()
    _check(fit, ref, "poisson offset, no singletons")


def test_gamma_log_link() -> None:
    fit = gee(
        "Weight ~ Time + Cu",
        dataset("dietox"),
        groups="Pig",
        family="Gamma",
        link="log",
        corstr="exchangeable",
    )
    _check(fit, more("gamma_log_exch"), "Gamma log")


def test_cbind_binomial_equals_proportion_with_weights() -> None:
    d = dataset("cbpp")
    fit = gee(
        "cbind(incidence, size - incidence) ~ period",
        d,
        groups="herd",
        family="binomial",
        corstr="exchangeable",
    )
    # One herd has a single row: geepack's alpha standard error is off (see above).
    _check(fit, more("cbind_binomial_exch"), "cbind binomial", alpha_se=False)
    d["prop"] = d["incidence"] / d["size"]
    fit2 = gee(
        "prop ~ period", d, groups="herd", family="binomial", weights="size", corstr="exchangeable"
    )
    assert np.allclose(fit2.fixef, fit.fixef, rtol=1e-12)
    assert np.allclose(fit2.vcov, fit.vcov, rtol=1e-10)


def test_prior_weights() -> None:
    d = dataset("ohio")
    d["w"] = 1 + d["id"] % 3
    fit = gee(
        "resp ~ age + smoke", d, groups="id", family="binomial", weights="w", corstr="exchangeable"
    )
    _check(fit, more("weights_ohio_exch"), "weights")


def _dietox_gaps() -> pd.DataFrame:
    d = dataset("dietox")
    pos = d["Pig"].cat.codes.to_numpy() + 1
    drop = ((pos % 2 == 1) & d["Time"].isin([3, 6, 9]).to_numpy()) | (
        (pos % 5 == 0) & (d["Time"] == 12).to_numpy()
    )
    return d.loc[~drop]


def _ohio_gaps() -> pd.DataFrame:
    d = dataset("ohio")
    drop = ((d["id"] % 5 == 0) & (d["age"] == 1)) | ((d["id"] % 7 == 0) & (d["age"] == -1))
    return d.loc[~drop]


def test_ar1_with_time_gaps() -> None:
    fit = gee("Weight ~ Time + Cu", _dietox_gaps(), groups="Pig", time="Time", corstr="ar1")
    _check(fit, more("dietox_gaps_ar1"), "dietox gaps")
    fit = gee(
        "resp ~ age + smoke", _ohio_gaps(), groups="id", time="age", family="binomial", corstr="ar1"
    )
    _check(fit, more("ohio_gaps_ar1"), "ohio gaps")


def test_ar1_gaps_differ_from_positions() -> None:
    # Ignoring the time variable treats a gap as one step: a different (wrong) model.
    d = _dietox_gaps()
    with_time = gee("Weight ~ Time + Cu", d, groups="Pig", time="Time", corstr="ar1")
    positions = gee("Weight ~ Time + Cu", d, groups="Pig", corstr="ar1")
    assert abs(with_time.corr_params.iloc[0] - positions.corr_params.iloc[0]) > 1e-3


def test_m_dependent() -> None:
    fit = gee(
        "resp ~ age + smoke",
        dataset("ohio"),
        groups="id",
        family="binomial",
        corstr="m-dependent",
        mdep=2,
    )
    _check(fit, more("ohio_mdep2"), "m-dependent")
    fit2 = gee(
        "resp ~ age + smoke",
        dataset("ohio"),
        groups="id",
        family="binomial",
        corstr=MDependent(2),
        time="age",
    )
    assert np.allclose(fit2.fixef, fit.fixef, rtol=1e-12)
    R = fit.working_correlation().to_numpy()
    assert R[0, 3] == 0.0 and R[0, 1] == pytest.approx(fit.corr_params.iloc[0])


def test_fixed_working_correlation() -> None:
    ref = more("ohio_fixed")
    fit = gee(
        "resp ~ age + smoke",
        dataset("ohio"),
        groups="id",
        family="binomial",
        corstr="fixed",
        matrix=np.array(ref["matrix"]),
    )
    _check(fit, ref, "fixed", nuisance=False)
    assert_rel(fit.scale, ref["scale"], COEF_TOL, "fixed scale")
    assert len(fit.corr_params) == 0
    # A matrix given directly as corstr is the same structure.
    fit2 = gee(
        "resp ~ age + smoke",
        dataset("ohio"),
        groups="id",
        family="binomial",
        corstr=np.array(ref["matrix"]),
    )
    assert np.allclose(fit2.fixef, fit.fixef, rtol=1e-12)


def test_scale_fixed() -> None:
    fit = fit_spec(OHIO, corstr="exchangeable", scale_fix=True)
    # Reference: geese(scale.fix = TRUE, gm = 1); geeglm(scale.fix = TRUE) keeps the
    # scale at the GLM's mean squared Pearson residual instead.
    _check(fit, more("ohio_exch_scalefix"), "scale fixed")
    assert fit.scale == 1.0 and fit.scale_fixed
    assert fit_spec(OHIO, corstr="exchangeable", scale_fix=1.0).scale == 1.0
    assert np.isnan(fit.scale_se)
    assert "Scale is fixed." in fit.summary()


def test_probit_ar1() -> None:
    fit = fit_spec(RESPIRATORY, link="probit", corstr="ar1")
    _check(fit, more("respiratory_probit_ar1"), "probit")


def test_negative_binomial_fixed_theta() -> None:
    ref = extra_reference()["negbin_independence"]
    fit = gee(
        "TICKS ~ YEAR + cHEIGHT",
        dataset("grouseticks"),
        groups="BROOD",
        family=NegativeBinomial(theta=ref["theta"]),
    )
    assert_rel(fit.fixef, values(ref["coef"]), 1e-8, "negbin coef")
    assert_rel(fit.fixef_se, values(ref["robust_se"]), 1e-6, "negbin robust se")
    # Any registered family works with any structure.
    ex = gee(
        "TICKS ~ YEAR + cHEIGHT",
        dataset("grouseticks"),
        groups="BROOD",
        family=NegativeBinomial(theta=2.0),
        corstr="exchangeable",
    )
    assert ex.converged and np.all(np.isfinite(ex.fixef_se))


@pytest.mark.parametrize(
    "name", ["ohio_exchangeable", "ohio_independence", "ohio_unstructured", "dietox_ar1"]
)
def test_jackknife(name: str) -> None:
    ref = extra_reference()["jackknife"][name]
    fit = fit_spec(named_spec(name), std_err="jackknife")
    assert_rel(fit.fixef, values(ref["coef"]), COEF_TOL, f"{name} coef")
    assert_rel(fit.fixef_se, values(ref["jack_se"]), SE_TOL, f"{name} jackknife se")
    assert_rel(fit.std_errors("jack"), values(ref["jack_se"]), SE_TOL, "alias")


def _anova_check(table: pd.DataFrame, ref: dict[str, Any], name: str) -> None:
    terms = ref["terms"] if isinstance(ref["terms"], list) else [ref["terms"]]
    if name != "dietox_nested":
        assert list(table.index) == terms
    assert list(table["Df"]) == list(values(ref["Df"]).astype(int))
    assert_rel(table["X2"], values(ref["X2"]), 1e-6, f"{name} X2")
    p = values(ref["P"])
    ok = p > 1e-12
    assert_rel(table["P(>|Chi|)"].to_numpy()[ok], p[ok], 1e-6, f"{name} p")


def test_anova_sequential() -> None:
    refs = extra_reference()["anova"]
    fit = gee("Weight ~ Time + Cu", dataset("dietox"), groups="Pig", corstr="ar1")
    _anova_check(fit.anova(), refs["dietox_ar1"], "dietox_ar1")
    _anova_check(anova(fit), refs["dietox_ar1"], "dietox_ar1")
    fit = fit_spec(RESPIRATORY, corstr="exchangeable")
    _anova_check(fit.anova(), refs["respiratory_exchangeable"], "respiratory")
    fit = gee(
        "resp ~ age * smoke", dataset("ohio"), groups="id", family="binomial", corstr="exchangeable"
    )
    _anova_check(fit.anova(), refs["ohio_interaction"], "ohio interaction")


def test_anova_nested_models() -> None:
    ref = extra_reference()["anova"]["dietox_nested"]
    big = gee("Weight ~ Time + Cu", dataset("dietox"), groups="Pig", corstr="ar1")
    small = gee("Weight ~ Time", dataset("dietox"), groups="Pig", corstr="ar1")
    _anova_check(anova(big, small), ref, "dietox_nested")
    _anova_check(anova(small, big), ref, "dietox_nested")
    # The marginal test of the term in the big model is the same Wald test here.
    marginal = big.anova(type="marginal")
    assert marginal.loc["Cu", "X2"] == pytest.approx(values(ref["X2"])[0], rel=1e-8)
    assert big.wald_test(terms="Cu")["statistic"] == pytest.approx(values(ref["X2"])[0], rel=1e-8)


@pytest.mark.parametrize(
    "name", ["dietox_ar1", "respiratory_exchangeable", "ohio_ar1", "ohio_unstructured"]
)
def test_qic(name: str) -> None:
    ref = extra_reference()["qic"][name]
    q = fit_spec(named_spec(name)).qic()
    for key in ("QIC", "QICu", "QuasiLik", "CIC", "QICC"):
        assert_rel(q[key], ref[key], 1e-6, f"{name} {key}")
