"""emmeans on GLMMs (asymptotic inference, ``type="response"``) and emmeans' contrast
families (``trt.vs.ctrl``, ``consec``, ``poly``, ``eff``, ``del.eff``) with their
default adjustments, against emmeans 1.8.4 (issue 19, item 1).

Reference: ``tools/reference/emmeans_glmm_families.R`` (R 4.2.2, lme4 1.1-31,
emmeans 1.8.4).  The GLMM figures are compared at lme4's fixed effects and covariance
(our Laplace fit of cbpp differs from lme4's in the fourth digit of the fixed effects
and its standard errors by 1.3 %, see ``generalized/test_reference_glmm.py``), so
that the test is of the marginal means, the back-transformation and the adjustments.

Tolerances: 1e-4 relative (1e-8 absolute for values near zero); p-values 1e-4 relative
or 1e-10 absolute (R's ``ptukey`` keeps about 1e-11 absolute, ours the relative
accuracy); the multivariate t (``mvt``) 2e-3 absolute on p and 5e-3 relative on the
limits, since emmeans' ``mvtnorm::pmvt`` integrates by quasi-Monte Carlo to 1e-3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

REF = json.loads(
    (Path(__file__).parents[1] / "reference" / "emmeans_glmm_families.json").read_text()
)
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + (1 | BROOD)"
CAKE = "angle ~ recipe * temperature + (1 | recipe:replicate)"
FAMILIES = ["trt.vs.ctrl", "consec", "poly", "eff", "del.eff"]


def at_lme4(fit: Any, ref: dict[str, Any]) -> Any:
    """The fit with lme4's fixed effects and their covariance."""
    names = list(fit.fixef.index)
    beta = pd.Series(list(ref["fixef"].values()), index=names)
    vcov = pd.DataFrame(np.array(ref["vcov"]), index=names, columns=names)

    class AtLme4(type(fit)):  # type: ignore[misc]
        fixef = property(lambda self: beta)
        vcov = property(lambda self: vcov)

    fit.__class__ = AtLme4
    return fit


@pytest.fixture(scope="module")
def cbpp() -> Any:
    fit = mm.glmm(CBPP, mm.datasets.load("cbpp"), family="binomial")
    return at_lme4(fit, REF["cbpp"])


@pytest.fixture(scope="module")
def grouse() -> Any:
    fit = mm.glmm(GROUSE, mm.datasets.load("grouseticks"), family="poisson")
    return at_lme4(fit, REF["grouseticks"])


@pytest.fixture(scope="module")
def cake() -> Any:
    fit = mm.lmm(CAKE, mm.datasets.load("cake"))
    np.testing.assert_allclose(fit.theta, REF["cake"]["theta"], rtol=1e-6)
    return fit


def compare(ours: pd.DataFrame, ref: dict[str, Any], mvt: bool = False) -> None:
    assert list(ours.columns) == ref["columns"]
    for col in ref["columns"]:
        want = [row[col] for row in ref["rows"]]
        got = ours[col].tolist()
        if isinstance(want[0], str):
            assert [str(v) for v in got] == want, col
            continue
        w = np.array([np.inf if v is None else v for v in want], dtype=float)
        g = np.asarray(got, dtype=float)
        if col == "df" and np.all(np.isinf(w)):
            assert np.all(np.isinf(g))
            continue
        if col == "p.value":
            atol, rtol = (2e-3, 0.0) if mvt else (1e-10, 1e-4)
        elif mvt and "CL" in col:
            atol, rtol = 0.0, 5e-3
        else:
            atol, rtol = 1e-8 * max(1.0, float(np.max(np.abs(w)))), 1e-4
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=col)


def test_glmm_emmeans_with_the_default_ddf() -> None:
    # Before: AttributeError ('GLMMProblem' object has no attribute 'evaluate').
    fit = mm.glmm(CBPP, mm.datasets.load("cbpp"), family="binomial")
    emm = mm.emmeans(fit, "period")
    assert np.all(np.isinf(emm["df"]))
    assert "z.ratio" in emm.columns and "asymp.LCL" in emm.columns
    pairs = mm.contrasts(fit, "period")
    assert len(pairs) == 6
    with pytest.raises(TypeError, match="linear mixed model"):
        mm.emmeans(fit, "period", ddf="kenward-roger")


@pytest.mark.parametrize("type", ["link", "response"])
def test_cbpp_means_and_pairs(cbpp: Any, type: str) -> None:
    compare(mm.emmeans(cbpp, "period", type=type), REF["cbpp"][f"emmeans_{type}"])
    compare(mm.contrasts(cbpp, "period", type=type), REF["cbpp"][f"pairs_{type}"])


@pytest.mark.parametrize("type", ["link", "response"])
@pytest.mark.parametrize("method", FAMILIES)
def test_cbpp_contrast_families(cbpp: Any, method: str, type: str) -> None:
    out = mm.contrasts(cbpp, "period", method=method, type=type)
    compare(out, REF["cbpp"][f"{method}_{type}"], mvt=method == "consec")


def test_trt_vs_ctrl_reference_level(cbpp: Any) -> None:
    want = REF["cbpp"]["trt.vs.ctrl_ref3_link"]
    compare(mm.contrasts(cbpp, "period", method="trt.vs.ctrl", ref=3), want)
    compare(mm.contrasts(cbpp, "period", method="trt.vs.ctrl", ref="3"), want)
    with pytest.raises(ValueError, match="not one of the levels"):
        mm.contrasts(cbpp, "period", method="trt.vs.ctrl", ref="9")


def test_poisson_rates_and_ratios(grouse: Any) -> None:
    compare(mm.emmeans(grouse, "YEAR", type="response"), REF["grouseticks"]["emmeans_response"])
    compare(mm.contrasts(grouse, "YEAR", type="response"), REF["grouseticks"]["pairs_response"])
    compare(
        mm.contrasts(grouse, "YEAR", method="trt.vs.ctrl", type="response"),
        REF["grouseticks"]["trt.vs.ctrl_response"],
    )


@pytest.mark.parametrize("method", ["trt.vs.ctrl", "poly", "eff", "del.eff"])
def test_lmm_contrast_families(cake: Any, method: str) -> None:
    compare(mm.contrasts(cake, "temperature", method=method), REF["cake"][method])


def test_lmm_trt_vs_ctrl_by_groups(cake: Any) -> None:
    out = mm.contrasts(cake, "recipe", by="temperature", method="trt.vs.ctrl", ref=2)
    compare(out, REF["cake"]["trt.vs.ctrl_by"])
    assert out.attrs["adjust"] == "dunnettx"


def test_bad_contrast_requests(cbpp: Any) -> None:
    with pytest.raises(ValueError, match="unknown contrast method"):
        mm.contrasts(cbpp, "period", method="helmert")
    with pytest.raises(ValueError, match="ref= is for"):
        mm.contrasts(cbpp, "period", method="consec", ref=2)
    with pytest.raises(ValueError, match="type must be"):
        mm.emmeans(cbpp, "period", type="probability")
