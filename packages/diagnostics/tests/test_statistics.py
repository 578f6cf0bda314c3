"""ICC, Nakagawa's R², insight's variance components and performance's checks against R.

Reference figures: ``reference/performance_*_icc_r2.json`` (the shared reference set) and
``reference/diagnostics_statistics.json`` (``tools/reference/diagnostics_statistics.R``:
insight 0.19, performance 0.10.2, lme4 1.1-31, glmmTMB 1.1.5).

The formulas are checked to 1e-6 on results evaluated at R's estimates (lme4's
optimisers stop up to ~1e-3 short of the optimum our fits reach, which moves the
variance components by up to 7e-4 relative; the poisson null model's intercept by
3e-3).  Our own fits are checked against R as well, at the tolerance the core's
GLMM reference tests use (1e-3).
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mixedmodels_diagnostics import _statistics as S
from mixedmodels_diagnostics import _variance_components

import mixedmodels as mm
from mixedmodels.numerics.optimize import OptimizerSummary

# insight's warning for small poisson means (grouseticks: mu about 2) is expected here.
# and its refusal of the random-effect variance of singular fits (cbpp_probit).
pytestmark = [
    pytest.mark.filterwarnings("ignore:mu of .* is too close to zero:UserWarning"),
    pytest.mark.filterwarnings("ignore:can't compute the:UserWarning"),
    pytest.mark.filterwarnings("ignore:icc. the model has random slopes:UserWarning"),
]

REFERENCE = Path(__file__).parent / "reference"
REF = json.loads((REFERENCE / "diagnostics_statistics.json").read_text())

_FITS: dict[str, Any] = {}


def _data(name: str) -> pd.DataFrame:
    if name == "gamma":
        return pd.read_csv(REFERENCE / "diagnostics_statistics_gamma.csv")
    data = mm.datasets.load(name)
    if name == "grouseticks":
        data["any"] = (data["TICKS"] > 0).astype(float)
    if name == "cbpp":
        data["any"] = (data["incidence"] > 0).astype(float)
    return data


CBIND = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
# case -> (data set, formula, glmm keyword arguments or None for an LMM)
CASES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "sleep_intercept": ("sleepstudy", "Reaction ~ Days + (1 | Subject)", None),
    "sleep_slopes": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", None),
    "sleep_uncorr": ("sleepstudy", "Reaction ~ Days + (Days || Subject)", None),
    "penicillin": ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", None),
    "orthodont": ("Orthodont", "distance ~ age * Sex + (1 | Subject)", None),
    "cbpp": ("cbpp", CBIND, {"family": "binomial"}),
    "cbpp_probit": ("cbpp", "any ~ period + (1 | herd)", {"family": "binomial", "link": "probit"}),
    "cbpp_probit_trials": ("cbpp", CBIND, {"family": "binomial", "link": "probit"}),
    "cbpp_cloglog_trials": ("cbpp", CBIND, {"family": "binomial", "link": "cloglog"}),
    "grouse_probit": (
        "grouseticks",
        "any ~ YEAR + HEIGHT_s + (1 | LOCATION)",
        {"family": "binomial", "link": "probit"},
    ),
    "grouse_cloglog": (
        "grouseticks",
        "any ~ YEAR + HEIGHT_s + (1 | LOCATION)",
        {"family": "binomial", "link": "cloglog"},
    ),
    "grouse_poisson": (
        "grouseticks",
        "TICKS ~ YEAR + HEIGHT_s + (1 | BROOD) + (1 | LOCATION)",
        {"family": "poisson"},
    ),
    "grouse_poisson_location": (
        "grouseticks",
        "TICKS ~ YEAR + (1 | LOCATION)",
        {"family": "poisson"},
    ),
    "grouse_olre": (
        "grouseticks",
        "TICKS ~ YEAR + (1 | BROOD) + (1 | INDEX)",
        {"family": "poisson"},
    ),
    "grouse_nb": ("grouseticks", "TICKS ~ YEAR + (1 | BROOD)", {"family": "negative_binomial"}),
    "gamma_tmb": ("gamma", "y_gamma ~ x + (1 | g)", {"family": "Gamma", "link": "log"}),
}


def fit(case: str) -> Any:
    """Our fit of a case (cached for the module)."""
    if case not in _FITS:
        dataset, formula, kwargs = CASES[case]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kwargs is None:
                _FITS[case] = mm.lmm(formula, _data(dataset))
            else:
                _FITS[case] = mm.glmm(formula, _data(dataset), **kwargs)
    return _FITS[case]


def at_estimates(result: Any, theta: Any, beta: Any, nb_size: float | None = None) -> Any:
    """A result of the same model evaluated at given (R's) estimates."""
    theta = np.atleast_1d(np.asarray(theta, dtype=float))
    if isinstance(result, mm.LMMResult):
        problem = result._problem
        ev = problem.evaluate(theta, result.reml)
        return mm.LMMResult(
            result.model, problem, ev, result.reml, OptimizerSummary("none", 0), True, []
        )
    problem = copy.copy(result._problem)  # the fit's own problem keeps its family
    if nb_size is not None:
        problem.family = problem.family.with_theta(nb_size)
    out = mm.GLMMResult(
        result.model,
        problem,
        theta,
        np.asarray(beta, dtype=float),
        result.minus2loglik,
        result.nagq,
        result._vcov,
        OptimizerSummary("none", 0),
        True,
        [],
    )
    out.nb_size = nb_size
    return out


def r_result(case: str) -> Any:
    """Our model of a case at R's estimates (R's null-model intercept for counts)."""
    ref = REF[case]
    return at_estimates(fit(case), ref["theta"], list(ref["fixef"].values()), ref.get("nb_theta"))


@pytest.fixture
def r_null(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Use R's null-model intercept (lme4 stops short of the null model's optimum)."""

    def use(case: str) -> None:
        value = REF[case].get("null_fixef")
        if value is not None:
            monkeypatch.setattr(
                _variance_components, "_null_intercept", lambda result: float(value)
            )

    return use


def assert_rel(got: float, want: float | None, rtol: float, what: str = "") -> None:
    if want is None:
        assert math.isnan(got), (what, got)
    elif want == 0:
        assert got == pytest.approx(0.0, abs=1e-12), what
    else:
        assert got == pytest.approx(want, rel=rtol), (what, got, want)


def check_variances(result: Any, ref: dict[str, Any], rtol: float) -> None:
    v = S.variance_decomposition(result)
    for key in ("var.fixed", "var.random", "var.residual", "var.distribution", "var.dispersion"):
        assert_rel(v[key], ref["variance"][key], rtol, key)
    for group, value in (ref["variance"]["var.intercept"] or {}).items():
        assert_rel(v["var.intercept"][group], value, rtol, group)
    assert set(v["var.slope"]) == set(ref["variance"]["var.slope"] or {})
    for name, value in (ref["variance"]["var.slope"] or {}).items():
        assert_rel(v["var.slope"][name], value, rtol, name)
    ic = S.icc(result)
    if ref["icc"] is None:
        assert math.isnan(ic["adjusted"]) and math.isnan(ic["conditional"])
    else:
        assert_rel(ic["adjusted"], ref["icc"]["adjusted"], rtol, "icc adjusted")
        assert_rel(ic["conditional"], ref["icc"]["conditional"], rtol, "icc conditional")
    r2 = S.r2_nakagawa(result)
    assert_rel(r2["marginal"], ref["r2"]["marginal"], rtol, "r2 marginal")
    assert_rel(r2["conditional"], ref["r2"]["conditional"], rtol, "r2 conditional")
    by_group = S.icc(result, by_group=True)
    if ref["icc_by_group"] is not None:
        assert list(by_group["group"]) == list(ref["icc_by_group"])
        for got, want in zip(by_group["icc"], ref["icc_by_group"].values(), strict=True):
            assert_rel(got, want, rtol, "icc by group")


# --- the shared reference cases --------------------------------------------------------


@pytest.mark.parametrize(
    ("case_id", "data", "kwargs"),
    [
        ("performance_sleepstudy_icc_r2", "sleepstudy", None),
        ("performance_cbpp_icc_r2", "cbpp", {"family": "binomial"}),
    ],
)
def test_shared_reference_cases(case_id: str, data: str, kwargs: dict[str, Any] | None) -> None:
    case = json.loads((REFERENCE / f"{case_id}.json").read_text())
    ref = case["results"]
    ours = (
        mm.lmm(case["formula"], _data(data))
        if kwargs is None
        else mm.glmm(case["formula"], _data(data), **kwargs)
    )
    at_r = at_estimates(ours, list(ref["theta"].values()), list(ref["fixef"].values()))
    # our own fit to 1e-3 (the core's GLMM tolerance; lme4 stops short on cbpp), the
    # formulas at R's estimates to 1e-4 as asked (they agree to ~1e-9)
    for result, rtol in ((ours, 1e-3), (at_r, 1e-4)):
        ic = S.icc(result)
        r2 = S.r2_nakagawa(result)
        assert ic["adjusted"] == pytest.approx(ref["icc"]["ICC_adjusted"], rel=rtol)
        assert ic["conditional"] == pytest.approx(ref["icc"]["ICC_unadjusted"], rel=rtol)
        assert r2["marginal"] == pytest.approx(ref["r2_nakagawa"]["R2_marginal"], rel=rtol)
        assert r2["conditional"] == pytest.approx(ref["r2_nakagawa"]["R2_conditional"], rel=rtol)
        v = S.variance_decomposition(result)
        want = ref["variance_components_insight"]
        for key in ("var.fixed", "var.random", "var.residual", "var.distribution"):
            assert v[key] == pytest.approx(want[key], rel=rtol), key
        assert v["var.dispersion"] == want["var.dispersion"] == 0
        for group, value in want["var.intercept"].items():
            assert v["var.intercept"][group] == pytest.approx(value, rel=rtol)
        for name, value in want.get("var.slope", {}).items():
            assert v["var.slope"][name] == pytest.approx(value, rel=rtol)
        for name, value in want.get("cor.slope_intercept", {}).items():
            assert v["cor.slope_intercept"][name] == pytest.approx(value, rel=rtol)


# --- further cases: the formulas at R's estimates, our fits at the fit tolerance -------


@pytest.mark.parametrize("case", [c for c in CASES if c != "gamma_tmb"])
def test_variances_at_r_estimates(case: str, r_null: Any) -> None:
    r_null(case)
    check_variances(r_result(case), REF[case], rtol=1e-6)


@pytest.mark.parametrize(
    "case",
    [
        "sleep_intercept",
        "sleep_uncorr",
        "orthodont",
        "cbpp_cloglog_trials",
        "grouse_poisson",
        "grouse_poisson_location",
        "grouse_olre",
        "grouse_nb",
        "gamma_tmb",
    ],
)
def test_variances_of_our_fits(case: str) -> None:
    # (the probit fits are left out: the core's probit GLMMs stop at a singular fit)
    check_variances(fit(case), REF[case], rtol=5e-3)


def test_gamma_variance_is_the_dispersion() -> None:
    # glmmTMB's sigma(fit)^2 = phi; our fit agrees with glmmTMB to ~1e-5.
    result = fit("gamma_tmb")
    v = S.variance_decomposition(result)
    assert v["var.distribution"] == pytest.approx(result.dispersion)
    assert v["var.distribution"] == pytest.approx(REF["gamma_tmb"]["sigma"] ** 2, rel=1e-4)
    check_variances(result, REF["gamma_tmb"], rtol=1e-4)


@pytest.mark.parametrize("case", ["grouse_poisson", "grouse_poisson_location", "grouse_nb"])
def test_null_model_refit(case: str) -> None:
    # lme4 stops up to 0.004 (in -2 log L) short of the null model's optimum
    got = _variance_components._null_intercept(fit(case))
    assert got == pytest.approx(REF[case]["null_fixef"], abs=5e-3)


def test_singular_fit_has_no_random_variance() -> None:
    result = fit("cbpp_probit")
    assert REF["cbpp_probit"]["singular"] is True
    assert S.check_singularity(result)["singular"]
    assert math.isnan(S.variance_decomposition(result)["var.random"])
    with pytest.warns(UserWarning, match="singular"):
        assert math.isnan(S.icc(result)["adjusted"])
    with pytest.warns(UserWarning, match="singular"):
        r2 = S.r2_nakagawa(result)
    assert math.isnan(r2["conditional"])
    assert r2["marginal"] == pytest.approx(REF["cbpp_probit"]["r2"]["marginal"], rel=1e-4)


@pytest.mark.parametrize("case", ["sleep_slopes", "penicillin", "cbpp", "grouse_poisson"])
def test_singularity_matches_lme4(case: str) -> None:
    out = S.check_singularity(fit(case))
    assert out["singular"] is REF[case]["singular"] is False
    assert out["min_theta"] > out["tolerance"]


def test_icc_by_group_warns_with_random_slopes() -> None:
    with pytest.warns(UserWarning, match="random slopes"):
        table = S.icc(fit("sleep_slopes"), by_group=True)
    assert table["icc"].iloc[0] == pytest.approx(
        REF["sleep_slopes"]["icc_by_group"]["Subject"], rel=1e-4
    )


def test_slope_intercept_correlation() -> None:
    v = S.variance_decomposition(fit("sleep_slopes"))
    assert v["cor.slope_intercept"]["Subject"] == pytest.approx(0.065551238238, rel=1e-3)


# --- checks ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["cbpp", "grouse_poisson", "grouse_poisson_location", "grouse_nb"])
def test_overdispersion(case: str) -> None:
    want = REF[case]["overdispersion"]
    for result, rtol in ((fit(case), 1e-3), (r_result(case), 1e-5)):
        out = S.check_overdispersion(result)
        assert out["df"] == want["df"]
        assert out["chisq"] == pytest.approx(want["chisq"], rel=rtol)
        assert out["ratio"] == pytest.approx(want["ratio"], rel=rtol)
        assert out["p_value"] == pytest.approx(want["p"], rel=100 * rtol)


@pytest.mark.parametrize("case", ["grouse_poisson", "grouse_poisson_location", "grouse_nb"])
def test_zero_inflation(case: str) -> None:
    want = REF[case]["zero_inflation"]
    out = S.check_zero_inflation(fit(case))
    assert out["observed"] == want["observed"]
    assert out["predicted"] == want["predicted"]
    assert out["ratio"] == pytest.approx(want["ratio"])
    assert out["verdict"] == "underfitting"


def test_collinearity_lmm_with_interaction() -> None:
    want = REF["orthodont"]["collinearity"]
    table = S.check_collinearity(fit("orthodont"))
    assert list(table["term"]) == want["term"]
    np.testing.assert_allclose(table["vif"], want["vif"], rtol=1e-6)
    np.testing.assert_allclose(table["se_factor"], want["adj_vif"], rtol=1e-6)
    np.testing.assert_allclose(table["tolerance"], want["tolerance"], rtol=1e-6)
    np.testing.assert_allclose(table["vif_ci_low"], want["vif_ci_low"], rtol=1e-6)
    np.testing.assert_allclose(table["vif_ci_high"], want["vif_ci_high"], rtol=1e-6)
    np.testing.assert_allclose(table["adjusted_vif"], table["vif"] ** 0.5)  # one column each


def test_collinearity_glmm_with_a_factor() -> None:
    want = REF["grouse_poisson"]["collinearity"]
    table = S.check_collinearity(fit("grouse_poisson"))
    assert list(table["term"]) == want["term"]
    assert list(table["df"]) == [2, 1]
    # GVIF of a 2-column factor and a 1-column term are equal (two-term model)
    np.testing.assert_allclose(table["vif"], want["vif"], rtol=1e-4)
    np.testing.assert_allclose(table["adjusted_vif"], table["vif"] ** (1 / (2 * table["df"])))


@pytest.mark.parametrize("case", ["sleep_slopes", "orthodont", "cbpp", "grouse_nb"])
def test_convergence(case: str) -> None:
    out = S.check_convergence(fit(case))
    assert REF[case]["convergence"]["converged"] is True
    assert out["converged"] and out["optimizer_converged"]
    assert 0 <= out["gradient"] < out["tolerance"]


def test_convergence_flags_a_point_off_the_optimum() -> None:
    ours = fit("sleep_intercept")
    moved = at_estimates(ours, ours.theta * 1.5, ours.fixef)
    out = S.check_convergence(moved)
    assert not out["converged"] and out["gradient"] > 1e-3
