"""``gee(..., moments="gee")`` reproduces R's ``gee::gee`` (issue 19, item 10): its
moment estimators of the scale (``N - p``) and of the working correlation (with the
``- p`` correction; per-cluster lag means for AR-M and stat_M_dep), which statsmodels'
GEE follows too.

Reference: ``tools/reference/gee/gee_moments.R`` (R 4.2.2, gee 4.13, iterated to
``tol = 1e-12`` so that the figures are the solution).  Coefficients, robust and naive
standard errors, scale and correlation to 1e-6 relative (observed: 1e-11).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mixedmodels_gee import gee

import mixedmodels as mm

REF = json.loads((Path(__file__).parent / "reference" / "gee_moments.json").read_text())
RTOL = 1e-6
OHIO = ("resp ~ age + smoke", "ohio", "id", "binomial")
DIETOX = ("Weight ~ Time + Cu", "dietox", "Pig", "gaussian")
CASES = {
    "ohio_exchangeable": (*OHIO, "exchangeable", {}),
    "ohio_ar1": (*OHIO, "ar1", {}),
    "ohio_unstructured": (*OHIO, "unstructured", {}),
    "ohio_mdep2": (*OHIO, "m-dependent", {"mdep": 2}),
    "dietox_exchangeable": (*DIETOX, "exchangeable", {}),
    "dietox_ar1": (*DIETOX, "ar1", {}),
}


def _alpha_from_matrix(corstr: str, wc: np.ndarray, n: int) -> np.ndarray:
    if corstr in ("exchangeable", "ar1"):
        return wc[0, 1:2]
    if corstr == "m-dependent":
        return wc[0, 1 : 1 + n]
    j, k = np.triu_indices(wc.shape[0], 1)
    return wc[j, k]


@pytest.mark.parametrize("case", list(CASES))
def test_matches_r_gee(case: str) -> None:
    formula, dataset, groups, family, corstr, extra = CASES[case]
    fit = gee(
        formula,
        mm.datasets.load(dataset),
        groups=groups,
        family=family,
        corstr=corstr,
        moments="gee",
        **extra,
    )
    ref: dict[str, Any] = REF[case]
    assert list(fit.fixef.index) == list(ref["coefficients"])
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["coefficients"].values()), rtol=RTOL)
    robust = np.sqrt(np.diag(fit.get_vcov("robust").to_numpy()))
    naive = np.sqrt(np.diag(fit.get_vcov("naive").to_numpy()))
    np.testing.assert_allclose(robust, ref["robust_se"], rtol=RTOL)
    np.testing.assert_allclose(naive, ref["naive_se"], rtol=RTOL)
    assert fit.scale == pytest.approx(ref["scale"], rel=RTOL)
    alpha = fit.corr_params.to_numpy()
    want = _alpha_from_matrix(corstr, np.array(ref["working_correlation"]), alpha.size)
    np.testing.assert_allclose(alpha, want, rtol=RTOL)


def test_default_stays_geepack() -> None:
    ohio = mm.datasets.load("ohio")
    default = gee("resp ~ age + smoke", ohio, groups="id", family="binomial", corstr="exchangeable")
    gee_like = gee(
        "resp ~ age + smoke",
        ohio,
        groups="id",
        family="binomial",
        corstr="exchangeable",
        moments="gee",
    )
    # geepack divides by N and the pair count; gee by N - p and n_pairs - p.
    assert float(default.corr_params["alpha"]) == pytest.approx(0.3543, abs=1e-4)
    assert float(gee_like.corr_params["alpha"]) == pytest.approx(0.35413979715808, rel=RTOL)
    assert float(default.corr_params["alpha"]) != pytest.approx(
        float(gee_like.corr_params["alpha"]), rel=1e-5
    )


def test_bad_moments_requests() -> None:
    ohio = mm.datasets.load("ohio").assign(w=2.0)
    args = ("resp ~ age + smoke", ohio)
    with pytest.raises(ValueError, match="moments must be"):
        gee(*args, groups="id", family="binomial", moments="statsmodels")
    with pytest.raises(ValueError, match="no prior weights"):
        gee(*args, groups="id", family="binomial", weights="w", moments="gee")
    with pytest.raises(ValueError, match="algorithm='converge'"):
        gee(*args, groups="id", family="binomial", moments="gee", algorithm="geepack")


def test_confint_is_wald_with_robust_errors() -> None:
    """``GEEResult.confint`` (issue 19, item 5) against R's ``confint.default`` of a
    geeglm fit (tools/reference/gee/gee_confint.R), 1e-6 relative, 1e-7 absolute
    (geepack stops at its 1e-4 step, 4e-8 from the solution in smoke's coefficient)."""
    ref = json.loads((Path(__file__).parent / "reference" / "gee_confint.json").read_text())
    fit = gee(
        "resp ~ age + smoke",
        mm.datasets.load("ohio"),
        groups="id",
        family="binomial",
        corstr="exchangeable",
    )
    ci = fit.confint()
    assert list(ci.columns) == ref["colnames95"]
    assert list(ci.index) == ref["terms"]
    np.testing.assert_allclose(ci.to_numpy(), ref["ci95"], rtol=RTOL, atol=1e-7)
    ci90 = fit.confint(level=0.9)
    assert list(ci90.columns) == ["5 %", "95 %"]
    np.testing.assert_allclose(ci90.to_numpy(), ref["ci90"], rtol=RTOL, atol=1e-7)
    one = fit.confint("smoke")
    np.testing.assert_allclose(one.to_numpy(), ci.to_numpy()[2:], rtol=1e-12)
    naive = fit.confint(std_err="naive")
    se = fit.std_errors("naive")
    np.testing.assert_allclose(
        (naive.iloc[:, 1] - naive.iloc[:, 0]).to_numpy(), 2 * 1.959963984540054 * se, rtol=1e-9
    )
    with pytest.raises(KeyError, match="not coefficients"):
        fit.confint("nope")


def test_gee_contrasts() -> None:
    """contrasts= reaches the GEE model matrix (issue 19, item 4)."""
    ohio = mm.datasets.load("ohio").assign(smokef=lambda d: d["smoke"].astype(str))
    fit = gee(
        "resp ~ age + smokef", ohio, groups="id", family="binomial", contrasts={"smokef": "sum"}
    )
    assert list(fit.fixef.index) == ["(Intercept)", "age", "smokef1"]
    treat = gee("resp ~ age + smokef", ohio, groups="id", family="binomial")
    # Sum coding: smokef1 is minus half the treatment effect.
    assert float(fit.fixef["smokef1"]) == pytest.approx(-float(treat.fixef["smokef1"]) / 2)
