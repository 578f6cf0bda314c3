"""Tests of likelihood-ratio tests between nested models (:func:`mixedmodels.anova`).

Expected numbers: R 4.2.2 / lme4 1.1-31, ``anova(m0, m1)`` on sleepstudy, computed once
and copied here (tolerance 1e-6 relative, as for criteria).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import RefitMLWarning

RTOL = 1e-6
COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]

# m0 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML = FALSE)
# m1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)
# anova(m0, m1)  (the same table for the REML fits with refit = TRUE)
R_ML = {
    "npar": [4, 6],
    "AIC": [1802.0786430052258, 1763.9393444889909],
    "BIC": [1814.8504704087866, 1783.0970855943322],
    "logLik": [-897.03932150261289, -875.96967224449543],
    "deviance": [1794.0786430052258, 1751.9393444889909],
    "Chisq": 42.139298516234931,
    "Df": 2,
    "Pr(>Chisq)": 7.0724126383985394e-10,
}
# anova(m0_reml, m1_reml, refit = FALSE)
R_REML_NOREFIT = {
    "npar": [4, 6],
    "AIC": [1794.4650853949211, 1755.6282719599519],
    "BIC": [1807.2369127984819, 1774.7860130652932],
    "logLik": [-893.23254269746053, -871.81413597997596],
    "deviance": [1786.4650853949211, 1743.6282719599519],
    "Chisq": 42.836813434969145,
    "Df": 2,
    "Pr(>Chisq)": 4.9900414306073543e-10,
}
SMALL = "Reaction ~ Days + (1 | Subject)"
LARGE = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def ml_fits(sleep: pd.DataFrame) -> tuple[Any, Any]:
    return mm.lmm(SMALL, sleep, reml=False), mm.lmm(LARGE, sleep, reml=False)


@pytest.fixture(scope="module")
def reml_fits(sleep: pd.DataFrame) -> tuple[Any, Any]:
    return mm.lmm(SMALL, sleep), mm.lmm(LARGE, sleep)


def _check_table(table: pd.DataFrame, expected: dict[str, Any]) -> None:
    assert list(table.columns) == COLUMNS
    assert table["npar"].tolist() == expected["npar"]
    for col in ("AIC", "BIC", "logLik", "deviance"):
        np.testing.assert_allclose(table[col], expected[col], rtol=RTOL, err_msg=col)
    assert np.isnan(table["Chisq"].iloc[0]) and np.isnan(table["Df"].iloc[0])
    assert np.isnan(table["Pr(>Chisq)"].iloc[0])
    np.testing.assert_allclose(table["Chisq"].iloc[1], expected["Chisq"], rtol=RTOL)
    assert table["Df"].iloc[1] == expected["Df"]
    np.testing.assert_allclose(table["Pr(>Chisq)"].iloc[1], expected["Pr(>Chisq)"], rtol=RTOL)


def test_ml_fits_match_lme4(ml_fits: tuple[Any, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no refit note for ML fits
        table = mm.anova(*ml_fits)
    _check_table(table, R_ML)
    assert table.index.tolist() == ["m0", "m1"]
    assert table.attrs["heading"] == ["Models:", f"m0: {SMALL}", f"m1: {LARGE}"]


def test_reml_fits_are_refitted_by_ml(reml_fits: tuple[Any, Any]) -> None:
    with pytest.warns(RefitMLWarning, match="refitting model\\(s\\) with ML"):
        table = mm.anova(*reml_fits)
    _check_table(table, R_ML)
    # The fits passed in are left as they were.
    assert all(f.reml for f in reml_fits)


def test_refit_false_compares_reml_criteria(reml_fits: tuple[Any, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = mm.anova(*reml_fits, refit=False)
    _check_table(table, R_REML_NOREFIT)


def test_rows_sorted_by_parameters_with_given_names(ml_fits: tuple[Any, Any]) -> None:
    small, large = ml_fits
    table = mm.anova(large, small, names=["slope", "intercept"])
    assert table.index.tolist() == ["intercept", "slope"]
    _check_table(table, R_ML)
    assert table.attrs["heading"][1] == f"intercept: {SMALL}"


def test_three_models(sleep: pd.DataFrame, ml_fits: tuple[Any, Any]) -> None:
    uncorr = mm.lmm("Reaction ~ Days + (Days || Subject)", sleep, reml=False)
    table = mm.anova(ml_fits[0], uncorr, ml_fits[1])
    assert table.index.tolist() == ["m0", "m1", "m2"]
    assert table["npar"].tolist() == [4, 5, 6]
    assert table["Df"].iloc[1:].tolist() == [1, 1]
    np.testing.assert_allclose(
        table["Chisq"].iloc[1:], 2 * np.diff(table["logLik"].to_numpy()).clip(0), rtol=1e-12
    )


def test_single_model_gives_f_tests(ml_fits: tuple[Any, Any]) -> None:
    # One model: F tests of its terms (see test_ddf.py and test_anova_types.py).
    table = mm.anova(ml_fits[0])
    assert list(table.columns) == ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    assert table.index.tolist() == ["Days"]
    with pytest.raises(ValueError, match="at least two"):
        mm.anova()


def test_non_nested_models_are_refused(sleep: pd.DataFrame, ml_fits: tuple[Any, Any]) -> None:
    quadratic = mm.lmm("Reaction ~ Days + I(Days**2) + (1 | Subject)", sleep, reml=False)
    no_slope_fixed = mm.lmm("Reaction ~ 1 + (Days || Subject)", sleep, reml=False)
    with pytest.raises(ValueError, match=r"not nested \(fixed effects of 'm1'"):
        mm.anova(ml_fits[1], quadratic)
    with pytest.raises(ValueError, match=r"not nested \(random effects of 'm0'"):
        mm.anova(no_slope_fixed, quadratic)
    # Nested in the fixed part only is fine; the check can be switched off.
    assert len(mm.anova(ml_fits[0], quadratic)) == 2
    assert len(mm.anova(ml_fits[1], quadratic, check_nested=False)) == 2


def test_different_number_of_observations(sleep: pd.DataFrame, ml_fits: tuple[Any, Any]) -> None:
    fewer = mm.lmm(LARGE, sleep.iloc[:150], reml=False)
    with pytest.raises(ValueError, match=r"same number of observations.*m0: 180, m1: 150"):
        mm.anova(ml_fits[0], fewer)


def test_different_response(sleep: pd.DataFrame, ml_fits: tuple[Any, Any]) -> None:
    other = mm.lmm("log(Reaction) ~ Days + (Days | Subject)", sleep, reml=False)
    with pytest.raises(ValueError, match="different responses"):
        mm.anova(ml_fits[0], other)


def test_different_rows(sleep: pd.DataFrame, ml_fits: tuple[Any, Any]) -> None:
    shuffled = sleep.sample(frac=1.0, random_state=1)
    other = mm.lmm(LARGE, shuffled, reml=False)
    with pytest.raises(ValueError, match="different"):
        mm.anova(ml_fits[0], other)


def test_bad_names(ml_fits: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match="names has 1 entries for 2 models"):
        mm.anova(*ml_fits, names=["a"])
    with pytest.raises(ValueError, match="unique"):
        mm.anova(*ml_fits, names=["a", "a"])


def test_anova_is_the_function_even_after_importing_private_module(ml_fits) -> None:
    # Private: the refit path is patched to count refits.
    import mixedmodels.inference.anova as module

    assert callable(mm.anova) and mm.anova is module.anova
