"""``mm.tidy(fit, exponentiate=True)`` and ``conf_int=True, conf_level=...`` as
broom.mixed (issue 19, item 5), and the return types of ``lmm``/``glmm``/``gls``.

Reference: ``tools/reference/tidy_exponentiate.R`` (broom.mixed 0.2.9.4, lme4 1.1-31).
The GLMM is compared at lme4's fixed effects and covariance (our cbpp Laplace fit and
lme4's differ in the fourth digit, see ``generalized/test_reference_glmm.py``), 1e-8
relative; the LMM's 90 % Wald limits at 1e-5 relative.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

REF = json.loads((Path(__file__).parents[1] / "reference" / "tidy_exponentiate.json").read_text())
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
COLS = ["estimate", "std.error", "statistic", "p.value", "conf.low", "conf.high"]


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_glmm_exponentiate_and_conf_level() -> None:
    fit = mm.glmm(CBPP, mm.datasets.load("cbpp"), family="binomial")
    names = list(fit.fixef.index)
    beta = pd.Series(REF["glmer_fixef"], index=names)
    vcov = pd.DataFrame(np.array(REF["glmer_vcov"]), index=names, columns=names)

    class AtLme4(type(fit)):  # type: ignore[misc]
        fixef = property(lambda self: beta)
        vcov = property(lambda self: vcov)

    fit.__class__ = AtLme4
    for exponentiate, key in ((True, "glmer_exp"), (False, "glmer_raw")):
        ours = mm.tidy(
            fit, effects=["fixed"], exponentiate=exponentiate, conf_int=True, conf_level=0.9
        )
        want = _table(REF[key])
        assert ours["term"].tolist() == want["term"].tolist()
        np.testing.assert_allclose(
            ours[COLS].to_numpy(float), want[COLS].to_numpy(float), rtol=1e-8
        )


def test_lmm_conf_level_and_exponentiate() -> None:
    fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    ours = mm.tidy(fit, effects=["fixed"], conf_int=True, conf_level=0.9)
    want = _table(REF["lmer_ci90"])
    cols = ["estimate", "std.error", "conf.low", "conf.high"]
    np.testing.assert_allclose(ours[cols].to_numpy(float), want[cols].to_numpy(float), rtol=1e-5)
    exp = mm.tidy(fit, conf_int=True, exponentiate=True)
    fixed = exp["effect"] == "fixed"
    raw = mm.tidy(fit, conf_int=True)
    np.testing.assert_allclose(exp.loc[fixed, "estimate"], np.exp(raw.loc[fixed, "estimate"]))
    np.testing.assert_allclose(exp.loc[fixed, "conf.low"], np.exp(raw.loc[fixed, "conf.low"]))
    # Random-effect parameters are not transformed.
    pd.testing.assert_series_equal(exp.loc[~fixed, "estimate"], raw.loc[~fixed, "estimate"])


def test_fitting_functions_are_typed() -> None:
    # Before: -> Any, so IDEs could not complete the results' attributes.
    assert inspect.signature(mm.lmm).return_annotation == "LMMResult"
    assert inspect.signature(mm.glmm).return_annotation == "GLMMResult | TMBResult"
    assert inspect.signature(mm.gls).return_annotation == "GLSResult"
    from mixedmodels import api

    hints = __import__("typing").get_type_hints(
        api.lmm, localns={"LMMResult": mm.LMMResult, "GLMMResult": mm.GLMMResult}
    )
    assert hints["return"] is mm.LMMResult
    with pytest.raises(ValueError, match="conf_level"):
        mm.tidy(mm.glmm(CBPP, mm.datasets.load("cbpp")), conf_int=True, conf_level=90)


def test_glmm_tidy_takes_one_effect_name_and_ran_vals() -> None:
    # Before: effects="ran_vals" was split into letters and refused.
    fit = mm.glmm(CBPP, mm.datasets.load("cbpp"))
    vals = mm.tidy(fit, effects="ran_vals", conf_int=True)
    modes = fit.ranef(condvar=True)
    assert list(vals["effect"].unique()) == ["ran_vals"]
    np.testing.assert_allclose(vals["estimate"], modes["condval"].to_numpy(dtype=float))
    np.testing.assert_allclose(
        vals["conf.high"] - vals["conf.low"],
        2 * 1.959964 * modes["condsd"].to_numpy(dtype=float),
        rtol=1e-6,
    )
    coefs = mm.tidy(fit, effects=["fixed", "ran_coefs"])
    herd1 = coefs[(coefs["effect"] == "ran_coefs") & (coefs["level"] == "1")]
    assert herd1["term"].tolist() == list(fit.fixef.index)
    with pytest.raises(ValueError, match="unknown effect type"):
        mm.tidy(fit, effects="ran_val")
