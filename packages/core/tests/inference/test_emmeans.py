"""Estimated marginal means and contrasts (:func:`mixedmodels.emmeans`,
:func:`mixedmodels.contrasts`) against emmeans 1.8.4.

Reference: ``tools/reference/inference_reference.R`` — ``emmeans(fit, ~ factor,
lmer.df = ...)`` and ``pairs(..., adjust = "tukey" | "holm" | "bonferroni" | "none")``
with ``summary(infer = TRUE)`` on the unbalanced cake models (treatment and polynomial
contrasts; a factor-by-covariate model, whose covariate is held at its mean).  Results
are evaluated at lme4's theta and compared at 1e-4 relative.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

# Private: the reference grid is compared with emmeans' ref_grid; stubs carry the
# optimiser's typed summary.
from mixedmodels.inference.emmeans import reference_grid
from mixedmodels.numerics.optimize import OptimizerSummary
from mixedmodels.results import LMMResult

REFERENCE = Path(__file__).parents[1] / "reference"
REF = json.loads((REFERENCE / "inference_reference.json").read_text())
RTOL = 1e-4
CAKE = "angle ~ recipe * temperature + (1 | recipe:replicate)"
EMM_COLUMNS = ["emmean", "SE", "df", "lower.CL", "upper.CL", "t.ratio", "p.value"]
CONTRAST_COLUMNS = ["contrast", "estimate", "SE", "df", "lower.CL", "upper.CL", "t.ratio"]


def at_theta(fit: Any, theta: Any) -> LMMResult:
    ev = fit._problem.evaluate(np.atleast_1d(np.asarray(theta, dtype=float)), fit.reml)
    return LMMResult(fit.model, fit._problem, ev, fit.reml, OptimizerSummary("none", 0), True, [])


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    cake = mm.datasets.load("cake")
    drop = np.asarray(REF["unbalanced_dropped_rows_1based"]) - 1
    return cake.drop(index=cake.index[drop])


@pytest.fixture(scope="module")
def fits(data: pd.DataFrame) -> dict[str, LMMResult]:
    factor = at_theta(mm.lmm(CAKE, data), REF["cake_unbalanced"]["fit"]["theta"])
    numeric = at_theta(
        mm.lmm(CAKE.replace("temperature", "temp"), data), REF["cake_numeric"]["fit"]["theta"]
    )
    return {"factor": factor, "numeric": numeric}


CASES = [
    ("emmeans_recipe_satterthwaite", "factor", "recipe", "satterthwaite"),
    ("emmeans_recipe_kr", "factor", "recipe", "kenward-roger"),
    ("emmeans_temperature_satterthwaite", "factor", "temperature", "satterthwaite"),
    ("emmeans_numeric_recipe_satterthwaite", "numeric", "recipe", "satterthwaite"),
]


@pytest.mark.parametrize(("key", "fit", "spec", "ddf"), CASES)
def test_marginal_means(
    fits: dict[str, LMMResult], key: str, fit: str, spec: str, ddf: str
) -> None:
    ref = REF[key]["emmeans"]
    emm = mm.emmeans(fits[fit], spec, ddf=ddf)
    assert list(emm.columns) == [spec, *EMM_COLUMNS] == ref["colnames"]
    levels = list(fits[fit].model.design.spec.fixed.factors[spec].levels)
    assert emm[spec].astype(str).tolist() == levels
    expected = np.array(ref["values"], dtype=float)[:, 1:]
    np.testing.assert_allclose(emm[EMM_COLUMNS].to_numpy(float), expected, rtol=RTOL)


@pytest.mark.parametrize(("key", "fit", "spec", "ddf"), CASES)
@pytest.mark.parametrize("adjust", ["tukey", "holm", "bonferroni", "none"])
def test_pairwise_contrasts(
    fits: dict[str, LMMResult], key: str, fit: str, spec: str, ddf: str, adjust: str
) -> None:
    ref = REF[key][f"pairs_{adjust}"]
    got = mm.contrasts(fits[fit], spec, adjust=adjust, ddf=ddf)
    assert list(got.columns) == [*CONTRAST_COLUMNS, "p.value"] == ref["colnames"]
    assert got["contrast"].tolist() == [row[0] for row in ref["values"]]
    expected = np.array([row[1:] for row in ref["values"]], dtype=float)
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(float), expected, rtol=RTOL)
    assert got.attrs["adjust"] == adjust


def test_reference_grid_holds_covariates_at_their_mean(fits: dict[str, LMMResult]) -> None:
    grid = reference_grid(fits["numeric"])
    assert len(grid) == 3
    np.testing.assert_allclose(grid["temp"], REF["emmeans_numeric_temp_mean"], rtol=1e-12)
    big = reference_grid(fits["factor"])
    assert len(big) == 18 and list(big.columns) == ["recipe", "temperature"]


def test_by_groups_and_several_factors(fits: dict[str, LMMResult]) -> None:
    fit = fits["factor"]
    by = mm.emmeans(fit, "recipe", by="temperature")
    both = mm.emmeans(fit, ["recipe", "temperature"])
    formula = mm.emmeans(fit, "~ recipe | temperature")
    assert len(by) == len(both) == len(formula) == 18
    assert by[["recipe", "temperature"]].astype(str).iloc[:4].values.tolist() == [
        ["A", "175"],
        ["B", "175"],
        ["C", "175"],
        ["A", "185"],
    ]
    np.testing.assert_allclose(by["emmean"], both["emmean"])
    # A cell mean of the full interaction model is its fitted cell mean.
    row = by.iloc[[0]][["recipe", "temperature"]]
    cell = fit.model.design.fixed_matrix(row) @ fit.fixef.to_numpy()
    np.testing.assert_allclose(by["emmean"].iloc[0], cell[0])
    pairs = mm.contrasts(fit, "recipe", by="temperature")
    assert len(pairs) == 18 and pairs["temperature"].astype(str).iloc[3] == "185"
    # Within each group of 3 means, Tukey's p for a pair equals that of the same pair
    # tested alone in its family.
    alone = mm.contrasts(fit, "recipe", by="temperature", adjust="none")
    assert (pairs["p.value"] >= alone["p.value"] - 1e-12).all()


def test_custom_contrasts_and_covariate_values(fits: dict[str, LMMResult]) -> None:
    fit = fits["factor"]
    emm = mm.emmeans(fit, "recipe")
    got = mm.contrasts(fit, "recipe", method={"A vs B and C": [1.0, -0.5, -0.5]})
    np.testing.assert_allclose(
        got["estimate"].iloc[0], emm["emmean"].iloc[0] - emm["emmean"].iloc[1:].mean()
    )
    numeric = mm.emmeans(fits["numeric"], "recipe", at={"temp": [180.0, 220.0]})
    assert len(numeric) == 3
    sleep = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    days = mm.emmeans(sleep, "Days", at={"Days": [0, 5]})
    np.testing.assert_allclose(
        days["emmean"], sleep.fixef["(Intercept)"] + sleep.fixef["Days"] * np.array([0, 5])
    )


def test_bad_input(fits: dict[str, LMMResult]) -> None:
    fit = fits["factor"]
    with pytest.raises(ValueError, match="'recipee' is not a variable of the fixed effects"):
        mm.emmeans(fit, "recipee")
    with pytest.raises(ValueError, match="'temp' is a numeric covariate"):
        mm.emmeans(fits["numeric"], "temp")
    with pytest.raises(ValueError, match="unknown adjustment 'scheffe'"):
        mm.contrasts(fit, "recipe", adjust="scheffe")
    with pytest.raises(ValueError, match="Tukey adjustment is for pairwise"):
        mm.contrasts(fit, "recipe", method={"x": [1, -1, 0]}, adjust="tukey")
    with pytest.raises(ValueError, match="has 2 weights for 3 means"):
        mm.contrasts(fit, "recipe", method={"x": [1, -1]})
    with pytest.raises(ValueError, match="at= names"):
        mm.emmeans(fit, "recipe", at={"nothing": 1})
