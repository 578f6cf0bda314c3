"""Structured random-effect covariances (glmmTMB's names and parameter counts).

Reference figures: glmmTMB 1.1.5 ML fits, and lme4 fits of equivalent models for the
structures glmmTMB 1.1.5 lacks (``homcs``, ``homdiag``) or cannot fit here (``us`` on
cake), from ``tools/reference/covariance_structures.R`` (copied into
``tests/reference/covariance_structures.json``).  Tolerances: log-likelihood 1e-6
relative, SDs and correlations 1e-4 relative (1e-3 where glmmTMB's optimum is itself
that loose, e.g. a correlation near 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.interfaces import CovarianceStructure

# Private: the structures' factor/Jacobian helpers are tested directly.
from mixedmodels.structures import covariance as cv
from mixedmodels.testing import check_covariance_structure

REFERENCE = Path(__file__).parents[1] / "reference"
REF = json.loads((REFERENCE / "covariance_structures.json").read_text())
LOGLIK_RTOL = 1e-6
PARAM_RTOL = 1e-4


def _sleep() -> Any:
    d = mm.datasets.load("sleepstudy")
    d["D2"] = (d["Days"] / 3) ** 2
    return d


def _cake() -> Any:
    d = mm.datasets.load("cake")
    d["temp_f"] = d["temperature"].astype(str)
    return d


CASES: dict[str, tuple[str, Any]] = {
    "tmb_sleep_ar1": ("Reaction ~ Days + ar1(0 + factor(Days) | Subject)", _sleep),
    "tmb_sleep_cs": ("Reaction ~ Days + cs(1 + Days | Subject)", _sleep),
    "tmb_sleep_cs3": ("Reaction ~ Days + cs(1 + Days + D2 | Subject)", _sleep),
    "tmb_sleep_toep3": ("Reaction ~ Days + toep(1 + Days + D2 | Subject)", _sleep),
    "tmb_orthodont_ar1": (
        "distance ~ age + Sex + ar1(0 + factor(age) | Subject)",
        lambda: mm.datasets.load("Orthodont"),
    ),
    "tmb_cake_cs": ("angle ~ recipe + temp_f + cs(0 + recipe | replicate)", _cake),
    "tmb_cake_diag": ("angle ~ recipe + temp_f + diag(0 + recipe | replicate)", _cake),
    "tmb_cake_ar1": ("angle ~ recipe + temp_f + ar1(0 + recipe | replicate)", _cake),
    "lmer_cake_us": ("angle ~ recipe + temp_f + us(0 + recipe | replicate)", _cake),
    # homcs(0 + recipe | replicate) is (1 | replicate) + (1 | replicate:recipe) when the
    # correlation is positive; homdiag(0 + recipe | replicate) is (1 | replicate:recipe).
    "lmer_cake_homcs_equiv": ("angle ~ recipe + temp_f + homcs(0 + recipe | replicate)", _cake),
    "lmer_cake_homdiag_equiv": (
        "angle ~ recipe + temp_f + homdiag(0 + recipe | replicate)",
        _cake,
    ),
}

_FITS: dict[str, Any] = {}


def _fit(case_id: str) -> Any:
    if case_id not in _FITS:
        formula, data = CASES[case_id]
        _FITS[case_id] = mm.lmm(formula, data(), reml=False)
    return _FITS[case_id]


@pytest.mark.parametrize("case_id", list(CASES))
def test_ml_loglik_matches_reference(case_id: str) -> None:
    fit = _fit(case_id)
    assert fit.loglik == pytest.approx(REF[case_id]["logLik"], rel=LOGLIK_RTOL)


@pytest.mark.parametrize("case_id", [c for c in CASES if c.startswith("tmb_")])
def test_variance_components_match_glmmtmb(case_id: str) -> None:
    fit = _fit(case_id)
    ref = REF[case_id]
    assert fit.df == ref["df"]
    assert fit.sigma == pytest.approx(ref["sigma"], rel=PARAM_RTOL)
    ((group, vc),) = ref["varcorr"].items()
    cov = fit.covariance_matrices()[group].to_numpy()
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(sd, vc["sd"], rtol=PARAM_RTOL)
    if vc["corr"] is not None:
        corr = cov / np.outer(sd, sd)
        np.testing.assert_allclose(corr, vc["corr"], rtol=PARAM_RTOL, atol=2e-5)


def test_natural_parameters_are_glmmtmbs() -> None:
    """ar1 reports one SD and phi, cs the SDs and rho, toep one correlation per lag."""
    ar1 = _fit("tmb_sleep_ar1").structure_parameters(conf_int=False)
    ar1 = dict(zip(ar1.term, ar1.estimate, strict=True))
    corr = REF["tmb_sleep_ar1"]["varcorr"]["Subject"]["corr"]
    assert ar1["sd"] == pytest.approx(REF["tmb_sleep_ar1"]["varcorr"]["Subject"]["sd"][0], rel=1e-4)
    assert ar1["phi"] == pytest.approx(corr[0][1], rel=1e-4)
    cs = _fit("tmb_cake_cs").structure_parameters(conf_int=False)
    assert list(cs.term) == ["sd(recipeA)", "sd(recipeB)", "sd(recipeC)", "rho", "sigma"]
    toep = _fit("tmb_sleep_toep3").structure_parameters(conf_int=False)
    toep = dict(zip(toep.term, toep.estimate, strict=True))
    corr = REF["tmb_sleep_toep3"]["varcorr"]["Subject"]["corr"]
    assert toep["rho.lag1"] == pytest.approx(corr[0][1], rel=1e-4)
    assert toep["rho.lag2"] == pytest.approx(corr[0][2], rel=1e-4)


def test_diag_equals_double_bar() -> None:
    """diag(1 + Days | Subject) is lme4's (1 + Days || Subject): same criterion and SDs
    (lme4's reference case lmer_sleepstudy_uncorr_reml)."""
    ref = json.loads((REFERENCE / "lmer_sleepstudy_uncorr_reml.json").read_text())["results"]
    sleep = mm.datasets.load("sleepstudy")
    a = mm.lmm("Reaction ~ Days + diag(1 + Days | Subject)", sleep)
    b = mm.lmm("Reaction ~ Days + (1 + Days || Subject)", sleep)
    assert a.reml_criterion == pytest.approx(ref["REMLcrit"], rel=1e-6)
    assert a.reml_criterion == pytest.approx(b.reml_criterion, rel=1e-10)
    sds = np.sqrt(np.diag(a.covariance_matrices()["Subject"].to_numpy()))
    ref_sd = [
        ref["varcorr"]["Subject"]["sd"]["(Intercept)"],
        ref["varcorr"]["Subject.1"]["sd"]["Days"],
    ]
    np.testing.assert_allclose(sds, ref_sd, rtol=1e-4)


def test_structures_of_dimension_two_agree() -> None:
    """In two dimensions cs, toep, symm and us describe every covariance: same fit."""
    sleep = mm.datasets.load("sleepstudy")
    crits = [
        mm.lmm(f"Reaction ~ Days + {s}(1 + Days | Subject)", sleep).reml_criterion
        for s in ("us", "cs", "toep", "symm")
    ]
    np.testing.assert_allclose(crits, crits[0], rtol=1e-8)


def test_structured_terms_in_a_glmm() -> None:
    """cs() in a binomial GLMM: glmmTMB's Laplace log-likelihood."""
    cbpp = mm.datasets.load("cbpp")
    fit = mm.glmm(
        "cbind(incidence, size - incidence) ~ period + cs(0 + period | herd)",
        cbpp,
        family="binomial",
    )
    assert fit.loglik == pytest.approx(REF["tmb_cbpp_cs"]["logLik"], rel=1e-6)


def test_blocked_path_matches_dense_path_for_structures() -> None:
    """The blocked criterion with structured first and second terms agrees with the
    dense one (forced for this 150-column problem)."""
    # Private: forces the blocked (non-dense) criterion path.
    from mixedmodels.linear import fit as lmm_fit

    cake = _cake()
    formula = "angle ~ recipe + temp_f + ar1(0 + recipe | replicate) + cs(1 | replicate:temp_f)"
    blocked = mm.lmm(formula, cake, reml=False)
    limit = lmm_fit._DENSE_MAX_M
    try:
        lmm_fit._DENSE_MAX_M = 10_000
        dense = mm.lmm(formula, cake, reml=False)
    finally:
        lmm_fit._DENSE_MAX_M = limit
    assert type(dense._problem).__name__ == "DenseLMMProblem"
    assert type(blocked._problem).__name__ == "LMMProblem"
    assert blocked.loglik == pytest.approx(dense.loglik, rel=1e-9)
    np.testing.assert_allclose(blocked.theta, dense.theta, rtol=1e-4, atol=1e-6)


# --- the structures themselves --------------------------------------------------------

GLMMTMB_COUNTS = {
    "us": lambda n: n * (n + 1) // 2,
    "diag": lambda n: n,
    "homdiag": lambda n: 1,
    "cs": lambda n: n + 1,
    "homcs": lambda n: 2,
    "ar1": lambda n: 2,
    "toep": lambda n: 2 * n - 1,
}


@pytest.mark.parametrize("name", list(GLMMTMB_COUNTS))
def test_parameter_counts_are_glmmtmbs(name: str) -> None:
    cls = mm.plugin_manager.manager.get_covariance_structure(name)
    for n in (2, 3, 5):
        assert cls(n).n_params == GLMMTMB_COUNTS[name](n)


@pytest.mark.parametrize("cls", cv.BUILTIN_STRUCTURES, ids=lambda c: c.name)
def test_builtin_structure_conforms(cls: type[CovarianceStructure]) -> None:
    check_covariance_structure(cls, dims=(1, 2, 3, 4))


@pytest.mark.parametrize("cls", cv.BUILTIN_STRUCTURES, ids=lambda c: c.name)
def test_factor_jacobian_matches_differences(cls: type[CovarianceStructure]) -> None:
    rng = np.random.default_rng(3)
    for dim in (1, 2, 4):
        s = cls(dim)
        lower, _ = s.bounds()
        for _ in range(5):
            x = np.where(
                np.isfinite(lower),
                lower + 0.2 + rng.random(s.n_params),
                rng.normal(size=s.n_params),
            )
            fd = CovarianceStructure.factor_jacobian(s, x)
            np.testing.assert_allclose(s.factor_jacobian(x), fd, atol=1e-6)


def test_correlation_transforms() -> None:
    ar1 = cv.AR1(4)
    assert ar1.natural_parameters(np.array([2.0, 1.0]))[1] == (
        "phi",
        pytest.approx(1 / np.sqrt(2)),
        "cor",
    )
    cs = cv.CompoundSymmetry(3)
    # rho covers (-1/(dim-1), 1): the limits of positive definiteness.
    assert cs.rho(np.array([-40.0])) == pytest.approx(-0.5)
    assert cs.rho(np.array([40.0])) == pytest.approx(1.0)
    toep = cv.Toeplitz(5)
    C = toep.correlation_matrix(np.array([3.0, -2.0, 1.5, 4.0]))
    assert np.linalg.eigvalsh(C).min() > 0


def test_arma_autocorrelations_are_rs() -> None:
    """Against R's ARMAacf(ar = c(0.5, -0.2), ma = c(0.3, 0.4), lag.max = 5)."""
    acf = cv.arma_acf([0.5, -0.2], [0.3, 0.4], 5)
    expected = [1.0, 0.67178423, 0.33340249, 0.0323444, -0.0505083, -0.03172303]
    np.testing.assert_allclose(acf, expected, atol=1e-8)
    np.testing.assert_allclose(cv.arma_acf([], [0.3, 0.4], 3), [1, 0.336, 0.32, 0], atol=1e-12)
    np.testing.assert_allclose(cv.pacf_to_ar([0.5, -0.3, 0.2]), [0.71, -0.43, 0.2], atol=1e-12)


def test_identifiable_structures_skip_lme4s_count_check() -> None:
    """(0 + factor(Days) | Subject) has as many effects as rows: lme4 refuses it, but
    ar1() has two parameters and is identified."""
    sleep = mm.datasets.load("sleepstudy")
    with pytest.raises(ValueError, match="cannot both be identified"):
        mm.Model("Reaction ~ Days + (0 + factor(Days) | Subject)", sleep)
    mm.Model("Reaction ~ Days + ar1(0 + factor(Days) | Subject)", sleep)


def test_unknown_structure_names_the_registered_ones() -> None:
    sleep = mm.datasets.load("sleepstudy")
    with pytest.raises(KeyError, match="ar1") as info:
        mm.lmm("Reaction ~ Days + ar2(1 + Days | Subject)", sleep)
    assert "ar2" in str(info.value)


@pytest.mark.parametrize("structure", ["ar1", "cs"])
def test_glmm_structure_parameters_match_glmmtmb(structure):
    """SDs and their Wald intervals (log scale) of a binomial GLMM with a structured
    covariance against glmmTMB's confint(method = "wald")
    (tools/reference/glmm_structure_parameters.R)."""
    ref = json.loads(
        (Path(__file__).parents[1] / "reference" / "glmm_structure_parameters.json").read_text()
    )[structure]
    fit = mm.glmm(
        f"cbind(incidence, size - incidence) ~ period + {structure}(0 + period | herd)",
        mm.datasets.load("cbpp"),
        family="binomial",
    )
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-8)
    table = fit.structure_parameters()
    sds = table[table["term"].str.startswith("sd")]
    want = np.array(ref["ci"], dtype=float)
    for (_, row), (lo, hi, est) in zip(sds.iterrows(), want, strict=False):
        assert row["estimate"] == pytest.approx(est, rel=1e-4, abs=1e-6)
        if est > 1e-4:  # glmmTMB reports [0, Inf] for an SD on its bound
            assert row["conf.low"] == pytest.approx(lo, rel=1e-4)
            assert row["conf.high"] == pytest.approx(hi, rel=1e-4)
    assert "sigma" not in set(table["effect"])
    plain = fit.structure_parameters(conf_int=False)
    assert list(plain.columns) == ["effect", "group", "structure", "term", "estimate"]


def test_single_level_term_allowed_only_for_pooling_structures():
    # gamm4 writes a penalised smooth as one level with iid coefficients: homdiag over
    # the basis columns has one parameter for many columns, so it is identified; an
    # unstructured term over one level is not.
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 60
    d = pd.DataFrame({"z1": rng.normal(size=n), "z2": rng.normal(size=n), "one": "1"})
    d["g"] = np.repeat(list("abcdef"), 10)
    d["y"] = d["z1"] - d["z2"] + rng.normal(size=n)
    fit = mm.lmm("y ~ 1 + (1 | g) + homdiag(0 + z1 + z2 | one)", d)
    assert np.isfinite(fit.loglik)
    with pytest.raises(ValueError, match="has 1 level"):
        mm.lmm("y ~ 1 + (0 + z1 + z2 | one)", d)
