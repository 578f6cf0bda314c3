"""The statistics checks as registered diagnostics: bad input, supports(), the
conformance kit and ``mm.check``."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mixedmodels_diagnostics import _statistics as S

import mixedmodels as mm
from mixedmodels.testing import diagnostic_checks

pytestmark = pytest.mark.filterwarnings("ignore:mu of .* is too close to zero:UserWarning")

NAMES = [
    "icc",
    "r2",
    "check_singularity",
    "check_overdispersion",
    "check_collinearity",
    "check_convergence",
    "check_zero_inflation",
]
FUNCTIONS = [
    ("variance_decomposition", S.variance_decomposition),
    ("icc", S.icc),
    ("r2_nakagawa", S.r2_nakagawa),
    ("check_singularity", S.check_singularity),
    ("check_overdispersion", S.check_overdispersion),
    ("check_collinearity", S.check_collinearity),
    ("check_convergence", S.check_convergence),
    ("check_zero_inflation", S.check_zero_inflation),
]


@pytest.fixture(scope="module")
def fits() -> dict[str, Any]:
    sleep = mm.datasets.load("sleepstudy")
    cbpp = mm.datasets.load("cbpp")
    grouse = mm.datasets.load("grouseticks")
    cbpp["any"] = (cbpp["incidence"] > 0).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "lmm": mm.lmm("Reaction ~ Days + (Days | Subject)", sleep),
            "binomial": mm.glmm(
                "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"
            ),
            "bernoulli": mm.glmm("any ~ period + (1 | herd)", cbpp, family="binomial"),
            "poisson": mm.glmm(
                "TICKS ~ YEAR + HEIGHT_s + (1 | LOCATION)", grouse, family="poisson"
            ),
        }


def test_module_registers_the_named_diagnostics() -> None:
    assert [d.name for d in S.DIAGNOSTICS] == NAMES
    from mixedmodels.plugin_manager import manager as _plugins

    for name in NAMES:
        assert _plugins.get_diagnostic(name).name == name


@pytest.mark.parametrize(("name", "function"), FUNCTIONS)
@pytest.mark.parametrize("junk", [None, object(), "not a result", pd.DataFrame()])
def test_functions_refuse_what_is_not_a_result(name: str, function: Any, junk: Any) -> None:
    with pytest.raises(TypeError, match=name) as info:
        function(junk)
    assert type(junk).__name__ in str(info.value)


def test_overdispersion_refuses_lmm_and_bernoulli(fits: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"check_overdispersion.*LMMResult"):
        S.check_overdispersion(fits["lmm"])
    with pytest.raises(TypeError, match=r"check_overdispersion.*Bernoulli"):
        S.check_overdispersion(fits["bernoulli"])


def test_zero_inflation_refuses_binomial_and_lmm(fits: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"check_zero_inflation.*GLMMResult.*binomial"):
        S.check_zero_inflation(fits["binomial"])
    with pytest.raises(TypeError, match=r"check_zero_inflation.*LMMResult"):
        S.check_zero_inflation(fits["lmm"])


def test_collinearity_needs_two_terms(fits: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"check_collinearity.*two fixed-effect terms"):
        S.check_collinearity(fits["lmm"])


def test_supports_reasons_name_the_check(fits: dict[str, Any]) -> None:
    by_name = {d.name: d for d in S.DIAGNOSTICS}
    reason = by_name["check_overdispersion"].supports(fits["lmm"])
    assert reason is not None and "check_overdispersion" in reason
    reason = by_name["check_zero_inflation"].supports(fits["binomial"])
    assert reason is not None and "check_zero_inflation" in reason
    reason = by_name["check_collinearity"].supports(fits["lmm"])
    assert reason is not None and "check_collinearity" in reason
    for d in S.DIAGNOSTICS:
        reason = d.supports(object())
        assert isinstance(reason, str) and "object" in reason
    # a result of another kind: a plain GLS fit is not a mixed model
    gls = mm.gls("Reaction ~ Days", mm.datasets.load("sleepstudy"), correlation="cs(1 | Subject)")
    for d in S.DIAGNOSTICS:
        reason = d.supports(gls)
        assert reason is not None and "no random effects" in reason


_CONFORMANCE = [
    ("icc", "lmm"),
    ("icc", "binomial"),
    ("r2", "poisson"),
    ("check_singularity", "bernoulli"),
    ("check_overdispersion", "binomial"),
    ("check_overdispersion", "poisson"),
    ("check_collinearity", "poisson"),
    ("check_convergence", "lmm"),
    ("check_convergence", "binomial"),
    ("check_zero_inflation", "poisson"),
]
# The kit's checks of a diagnostic run on a fit (the fits are a fixture: listed with `...`).
_KIT_CHECKS = [name for name, _ in diagnostic_checks(S.DIAGNOSTICS[0], result=...)]


@pytest.mark.parametrize(("name", "fit_name"), _CONFORMANCE)
@pytest.mark.parametrize("check", _KIT_CHECKS)
def test_conformance(name: str, fit_name: str, check: str, fits: dict[str, Any]) -> None:
    diagnostic = next(d for d in S.DIAGNOSTICS if d.name == name)
    dict(diagnostic_checks(diagnostic, result=...))[check](diagnostic, result=fits[fit_name])


@pytest.mark.parametrize(("name", "fit_name"), _CONFORMANCE)
def test_verdicts(name: str, fit_name: str, fits: dict[str, Any]) -> None:
    diagnostic = next(d for d in S.DIAGNOSTICS if d.name == name)
    table = diagnostic.run(fits[fit_name])
    assert set(table["verdict"]) <= {"ok", "warning", "problem"}
    assert np.isfinite(pd.to_numeric(table["statistic"])).all()


def test_mm_check_returns_the_rows(fits: dict[str, Any]) -> None:
    report = mm.check(
        fits["poisson"],
        checks=[
            "icc",
            "r2",
            "check_singularity",
            "check_overdispersion",
            "check_collinearity",
            "check_convergence",
            "check_zero_inflation",
        ],
        verbose=False,
    )
    assert list(report.columns[:6]) == [
        "diagnostic",
        "check",
        "statistic",
        "p_value",
        "verdict",
        "message",
    ]
    counts = report["diagnostic"].value_counts().to_dict()
    assert counts == {
        "icc": 2,
        "r2": 2,
        "check_collinearity": 2,
        "check_singularity": 1,
        "check_overdispersion": 1,
        "check_convergence": 1,
        "check_zero_inflation": 1,
    }
    over = report[report["diagnostic"] == "check_overdispersion"].iloc[0]
    assert over["verdict"] == "problem" and over["p_value"] < 0.05
    assert "overdispersion" in over["message"]
    ic = report[report["check"] == "ICC (adjusted)"]["statistic"].iloc[0]
    assert ic == pytest.approx(S.icc(fits["poisson"])["adjusted"])
    assert report[report["diagnostic"] == "check_convergence"]["verdict"].iloc[0] == "ok"


def test_mm_check_refuses_a_check_that_does_not_apply(fits: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="check_overdispersion"):
        mm.check(fits["lmm"], checks=["check_overdispersion"], verbose=False)


def test_mm_check_on_a_singular_fit_warns(fits: dict[str, Any]) -> None:
    report = mm.check(fits["bernoulli"], checks=["check_singularity", "icc"], verbose=False)
    # the Bernoulli cbpp model is singular in lme4 too (herd variance 0)
    assert report["verdict"].tolist() == ["problem", "warning", "warning"]
    assert "singular" in report["message"].iloc[0]


def test_checks_on_an_lmm_with_a_residual_structure():
    """theta also holds the residual structure's parameters: the random-effect checks
    must read only the terms' (an IndexError before)."""
    import mixedmodels_diagnostics as mmd

    fit = mm.lmm(
        "Reaction ~ Days + (1 | Subject)",
        mm.datasets.load("sleepstudy"),
        correlation="ar1(Days | Subject)",
    )
    report = mm.check(fit, checks=["icc", "r2", "check_singularity"], verbose=False)
    assert len(report) == 5 and report["statistic"].notna().all()
    assert not mmd.check_singularity(fit)["singular"]


@pytest.mark.parametrize(("reml", "key"), [(False, "sleepstudy_ml"), (True, "sleepstudy_reml")])
def test_icc_beta_matches_the_iccbeta_formula_on_lme4(reml, key):
    """iccbeta's rho_beta on lme4's fits (tools/reference/diagnostics_icc_beta.R)."""
    import json
    from pathlib import Path

    import mixedmodels_diagnostics as mmd

    ref = json.loads(
        (Path(__file__).parent / "reference" / "diagnostics_icc_beta.json").read_text()
    )[key]
    sleep = mm.datasets.load("sleepstudy")
    fit = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep, reml=reml)
    assert mmd.icc_beta(fit) == pytest.approx(ref, rel=1e-4)
    assert mmd.icc_beta(fit, group="Subject") == mmd.icc_beta(fit)


def test_icc_beta_bad_input():
    import mixedmodels_diagnostics as mmd

    sleep = mm.datasets.load("sleepstudy")
    with pytest.raises(ValueError, match="random-slope term"):
        mmd.icc_beta(mm.lmm("Reaction ~ Days + (1 | Subject)", sleep))
    slope = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    with pytest.raises(ValueError, match="unknown group 'Patient'"):
        mmd.icc_beta(slope, group="Patient")
    sleep["D2"] = sleep["Days"] ** 2
    with pytest.raises(ValueError, match="not fixed-effect columns"):
        mmd.icc_beta(mm.lmm("Reaction ~ Days + (D2 | Subject)", sleep))
    cbpp = mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        mm.datasets.load("cbpp"),
        family="binomial",
    )
    with pytest.raises(TypeError, match="icc_beta needs a linear mixed model"):
        mmd.icc_beta(cbpp)
