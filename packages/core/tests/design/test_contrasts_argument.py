"""``contrasts=`` and ``C(x, contr.*)`` (issue 19, item 4): R's contrast matrices, R's
column names and lme4's estimates.

Reference: ``tools/reference/contrasts_reference.R`` (R 4.2.2, lme4 1.1-31) on cake and
cbpp.  Names exactly; criterion 1e-6 relative, fixed effects and SEs 1e-4 relative
(1e-6 absolute for the near-zero ones).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design.contrasts import contrast_matrix

REF = json.loads((Path(__file__).parents[1] / "reference" / "contrasts_reference.json").read_text())
RE = " + (1 | recipe:replicate)"


@pytest.fixture(scope="module")
def cake() -> pd.DataFrame:
    data = mm.datasets.load("cake")
    # R's factor(cake$temp): unordered, levels in numeric order.
    return data.assign(tempf=pd.Categorical(data["temp"].astype(int).astype(str)))


def check(fit: Any, ref: dict[str, Any], criterion: float) -> None:
    assert list(fit.fixef.index) == ref["fixef_names"]
    assert criterion == pytest.approx(ref["criterion"][0], rel=1e-6)
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref["fixef"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.fixef_se, ref["se"], rtol=1e-4, atol=1e-6)


def test_sum_and_helmert(cake: pd.DataFrame) -> None:
    fit = mm.lmm(
        "angle ~ recipe * tempf" + RE,
        cake,
        contrasts={"recipe": "contr.sum", "tempf": "contr.helmert"},
    )
    check(fit, REF["sum_helmert"], fit.reml_criterion)


def test_sas_and_poly(cake: pd.DataFrame) -> None:
    fit = mm.lmm(
        "angle ~ recipe + tempf" + RE, cake, contrasts={"recipe": "contr.SAS", "tempf": "poly"}
    )
    check(fit, REF["sas_poly"], fit.reml_criterion)


def test_treatment_for_an_ordered_factor(cake: pd.DataFrame) -> None:
    fit = mm.lmm(
        "angle ~ recipe + temperature" + RE, cake, contrasts={"temperature": "contr.treatment"}
    )
    check(fit, REF["ordered_treatment"], fit.reml_criterion)


def test_C_in_the_formula(cake: pd.DataFrame) -> None:
    # Before: FormulaError "column 'contr.sum' (fixed effects) not found in data".
    fit = mm.lmm('angle ~ C(recipe, contr.sum) + C(tempf, "contr.helmert")' + RE, cake)
    check(fit, REF["C_in_formula"], fit.reml_criterion)
    # New data are coded with the same contrasts.
    np.testing.assert_allclose(fit.predict(cake, re_form="NA"), fit.predict(re_form="NA"))


def test_glmm_and_model(cake: pd.DataFrame) -> None:
    cbpp = mm.datasets.load("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    fit = mm.glmm(formula, cbpp, family="binomial", contrasts={"period": "contr.sum"})
    ref = REF["glmer_sum"]
    assert list(fit.fixef.index) == ref["fixef_names"]
    # The coding does not change the fit: the same deviance as treatment contrasts.
    default = mm.glmm(formula, cbpp, family="binomial")
    assert fit.deviance == pytest.approx(default.deviance, rel=1e-7)
    # lme4 stops short of the optimum for cbpp (see test_reference_glmm.py): 1e-3.
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref["fixef"], rtol=1e-3)
    model = mm.Model("angle ~ recipe" + RE, cake, contrasts={"recipe": "contr.sum"})
    assert model.design.fixef_names == ["(Intercept)", "recipe1", "recipe2"]
    gls = mm.gls("angle ~ recipe", cake, contrasts={"recipe": "contr.helmert"})
    assert list(gls.fixef.index) == ["(Intercept)", "recipe1", "recipe2"]


def test_contrast_matrices_are_rs() -> None:
    np.testing.assert_array_equal(contrast_matrix("contr.sum", 3), [[1, 0], [0, 1], [-1, -1]])
    np.testing.assert_array_equal(
        contrast_matrix("contr.helmert", 4), [[-1, -1, -1], [1, -1, -1], [0, 2, -1], [0, 0, 3]]
    )
    np.testing.assert_array_equal(contrast_matrix("contr.SAS", 3), [[1, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(contrast_matrix("contr.treatment", 3), [[0, 0], [1, 0], [0, 1]])


def test_bad_contrasts(cake: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"unknown contrast 'contr\.bogus'"):
        mm.lmm("angle ~ recipe" + RE, cake, contrasts={"recipe": "contr.bogus"})
    with pytest.raises(ValueError, match="not variables of the formula"):
        mm.lmm("angle ~ recipe" + RE, cake, contrasts={"recipy": "contr.sum"})
    with pytest.raises(ValueError, match="contrasts apply to factors; 'temp' is numeric"):
        mm.lmm("angle ~ temp" + RE, cake, contrasts={"temp": "contr.sum"})
    with pytest.raises(ValueError, match="unknown contrast"):
        mm.lmm("angle ~ C(recipe, contr.nope)" + RE, cake)


def test_marginal_means_do_not_depend_on_the_coding(cake: pd.DataFrame) -> None:
    default = mm.lmm("angle ~ recipe * tempf" + RE, cake)
    coded = mm.lmm(
        "angle ~ recipe * tempf" + RE, cake, contrasts={"recipe": "sum", "tempf": "helmert"}
    )
    a = mm.emmeans(default, "recipe")
    b = mm.emmeans(coded, "recipe")
    np.testing.assert_allclose(b["emmean"], a["emmean"], rtol=1e-8)
    np.testing.assert_allclose(b["SE"], a["SE"], rtol=1e-6)
