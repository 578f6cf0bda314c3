"""Type I, II and III tests of fixed-effect terms (:func:`mixedmodels.anova` of one model).

Reference figures: ``tools/reference/inference_reference.R`` (R 4.2.2, lmerTest 3.1-3,
pbkrtest 0.5.2, car 3.1-1), copied to ``reference/inference_reference.json``:

* F tests: lmerTest's ``anova(fit, type = 1 | 2 | 3, ddf = "Satterthwaite" |
  "Kenward-Roger")`` for a balanced and an unbalanced two-factor model (treatment and
  polynomial contrasts) and for a factor-by-covariate model;
* Wald chi-square tests: car's ``Anova(fit, type = 2 | 3, test.statistic = "Chisq")``
  (type III with sum-to-zero contrasts, whose hypotheses are lmerTest's type III).

The tests are evaluated at lme4's theta (a result built there) and compared at 1e-4
relative (they agree to about 1e-8).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

# Private: stand-in results carry the optimiser's typed summary.
from mixedmodels.numerics.optimize import OptimizerSummary
from mixedmodels.results import LMMResult

REFERENCE = Path(__file__).parents[1] / "reference"
REF = json.loads((REFERENCE / "inference_reference.json").read_text())
RTOL = 1e-4
CAKE = "angle ~ recipe * temperature + (1 | recipe:replicate)"
F_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]


def at_theta(fit: Any, theta: Any) -> LMMResult:
    ev = fit._problem.evaluate(np.atleast_1d(np.asarray(theta, dtype=float)), fit.reml)
    return LMMResult(fit.model, fit._problem, ev, fit.reml, OptimizerSummary("none", 0), True, [])


@pytest.fixture(scope="module")
def cake_unbalanced() -> pd.DataFrame:
    cake = mm.datasets.load("cake")
    drop = np.asarray(REF["unbalanced_dropped_rows_1based"]) - 1
    return cake.drop(index=cake.index[drop])


@pytest.fixture(scope="module")
def fits(cake_unbalanced: pd.DataFrame) -> dict[str, LMMResult]:
    out = {}
    for case, formula, data in (
        ("cake_balanced", CAKE, mm.datasets.load("cake")),
        ("cake_unbalanced", CAKE, cake_unbalanced),
        ("cake_numeric", CAKE.replace("temperature", "temp"), cake_unbalanced),
    ):
        out[case] = at_theta(mm.lmm(formula, data), REF[case]["fit"]["theta"])
    return out


@pytest.mark.parametrize("case", ["cake_balanced", "cake_unbalanced", "cake_numeric"])
@pytest.mark.parametrize("kind", [1, 2, 3])
@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_f_tables_match_lmertest(
    fits: dict[str, LMMResult], case: str, kind: int, ddf: str
) -> None:
    key = "satterthwaite" if ddf == "satterthwaite" else "kenward_roger"
    expected = REF[case][f"anova_type{kind}_{key}"]
    table = mm.anova(fits[case], type=kind, ddf=ddf)
    assert list(table.columns) == F_COLUMNS == expected["colnames"]
    assert table.index.tolist() == expected["rownames"]
    np.testing.assert_allclose(table.to_numpy(dtype=float), expected["values"], rtol=RTOL)
    roman = {1: "I", 2: "II", 3: "III"}[kind]
    method = "Satterthwaite's" if ddf == "satterthwaite" else "Kenward-Roger's"
    assert table.attrs["heading"] == [
        f"Type {roman} Analysis of Variance Table with {method} method"
    ]


def test_type_names_and_lme4_table(fits: dict[str, LMMResult]) -> None:
    fit = fits["cake_unbalanced"]
    pd.testing.assert_frame_equal(mm.anova(fit, type="III"), mm.anova(fit))
    pd.testing.assert_frame_equal(mm.anova(fit, type="II"), mm.anova(fit, type=2))
    plain = mm.anova(fit, type=1, ddf="none")
    assert list(plain.columns) == ["Sum Sq", "Mean Sq", "NumDF", "F value"]
    expected = np.array(REF["cake_unbalanced"]["anova_type1_satterthwaite"]["values"])
    np.testing.assert_allclose(plain["F value"], expected[:, 4], rtol=RTOL)


def test_type3_does_not_depend_on_the_contrasts(cake_unbalanced: pd.DataFrame) -> None:
    # temperature as an unordered factor (treatment contrasts) instead of an ordered one
    # (polynomial contrasts): other coefficients, the same type III tests.
    data = cake_unbalanced.assign(
        temperature=pd.Categorical(cake_unbalanced["temperature"].astype(str), ordered=False)
    )
    fit = mm.lmm(CAKE, data)
    ordered = at_theta(mm.lmm(CAKE, cake_unbalanced), fit.theta)
    np.testing.assert_allclose(
        mm.anova(fit).to_numpy(float), mm.anova(ordered).to_numpy(float), rtol=1e-6
    )


def test_wald_chisq_matches_car_on_an_lmm(fits: dict[str, LMMResult]) -> None:
    fit = fits["cake_unbalanced"]
    t2 = mm.anova(fit, type=2, test="Chisq")
    assert list(t2.columns) == ["Chisq", "Df", "Pr(>Chisq)"]
    np.testing.assert_allclose(t2.to_numpy(float), REF["car_type2_chisq"]["values"], rtol=RTOL)
    assert t2.attrs["heading"][0] == "Analysis of Deviance Table (Type II Wald chisquare tests)"
    t3 = mm.anova(fit, type=3, test="Chisq")
    car3 = REF["car_type3_chisq_sum_coding"]
    assert car3["rownames"][1:] == t3.index.tolist()  # the intercept is not tested
    np.testing.assert_allclose(t3.to_numpy(float), car3["values"][1:], rtol=RTOL)
    # Wald chi-square of an LMM is the F statistic times its numerator df.
    f3 = mm.anova(fit, type=3)
    np.testing.assert_allclose(t3["Chisq"], f3["F value"] * f3["NumDF"], rtol=1e-10)


def test_wald_chisq_is_generic_over_results_with_fixef_and_vcov() -> None:
    # lme4's estimates and covariance of the cbpp binomial GLMM (reference case), on our
    # model: car::Anova(glmer(...)) gives the same table.
    case = json.loads((REFERENCE / "glmer_cbpp_binomial_laplace.json").read_text())["results"]
    fit = mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        mm.datasets.load("cbpp"),
        family="binomial",
    )
    names = list(case["fixef"])
    stub = SimpleNamespace(
        model=fit.model,
        fixef=pd.Series(case["fixef"]),
        vcov=pd.DataFrame(case["vcov_fixef"]["values"], index=names, columns=names),
    )
    for kind, key in ((2, "cbpp_car_type2_chisq"), (3, "cbpp_car_type3_chisq")):
        table = mm.anova(stub, type=kind)
        expected = REF[key]["values"]
        expected = expected[-1] if kind == 3 else expected
        np.testing.assert_allclose(table.to_numpy(float).ravel(), np.ravel(expected), rtol=RTOL)
    # The GLMM result itself: Wald chi-square by default, F tests refused.
    table = mm.anova(fit)
    assert table.index.tolist() == ["period"] and table["Df"].iloc[0] == 3
    with pytest.raises(ValueError, match="F tests need a linear mixed model"):
        mm.anova(fit, test="F")


def test_bad_arguments(fits: dict[str, LMMResult]) -> None:
    fit = fits["cake_balanced"]
    with pytest.raises(ValueError, match="unknown ANOVA type 4"):
        mm.anova(fit, type=4)
    with pytest.raises(ValueError, match="unknown test 'G'"):
        mm.anova(fit, test="G")
    with pytest.raises(ValueError, match="unknown ddf method"):
        mm.anova(fit, ddf="containment")


def test_models_fitted_to_different_data(cake_unbalanced: pd.DataFrame) -> None:
    full = mm.lmm(CAKE, mm.datasets.load("cake"), reml=False)
    part = mm.lmm(CAKE, cake_unbalanced, reml=False)
    with pytest.raises(ValueError, match="same number of observations"):
        mm.anova(full, part)
