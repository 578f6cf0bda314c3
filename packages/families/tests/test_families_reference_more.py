"""More glmmTMB 1.1.5 references (``tools/reference/glmmtmb_families/more_cases.R``): a
zero-inflated Poisson with a random effect in the zero-inflation model (the joint
solver, the two predictors coupled at the zeros), a truncated-Poisson hurdle, a
likelihood-ratio anova and profile intervals."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pytest
from tmb_helpers import REFERENCE, load_case

import mixedmodels as mm

MORE = json.loads((REFERENCE / "glmmtmb_more_cases.json").read_text())


@functools.cache
def salamanders() -> Any:
    return load_case("glmmtmb_salamanders_zinb2")[1]


def _check(fit: Any, ref: dict[str, Any]) -> None:
    assert fit.converged, fit.messages
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.df == ref["df"]
    for comp, est in ref["fixef"].items():
        got = fit.fixef_component(comp)
        want = np.array(list(est.values()))
        se = np.array(list(ref["se"][comp].values()))
        np.testing.assert_array_less(
            np.abs(got.to_numpy() - want), np.maximum(1e-4 * np.abs(want), 1e-4 * se)
        )
        np.testing.assert_allclose(fit.coef_table(comp)["Std. Error"], se, rtol=1e-3)
    vc = fit.varcorr
    for comp, groups in ref["sd"].items():
        for g, sd in groups.items():
            row = vc[(vc.component == comp) & (vc.group == g)]
            assert float(row["sd"].iloc[0]) == pytest.approx(sd, rel=1e-3)


def test_zero_inflated_poisson_with_random_effect_in_zi() -> None:
    fit = mm.glmm(
        "count ~ mined + (1 | site)",
        salamanders(),
        family="poisson",
        ziformula="~ mined + (1 | site)",
    )
    assert fit._problem.re_names == ["cond", "zi"]
    _check(fit, MORE["zip_re_zi"])
    # the zero-inflation random effects are reported as their own block
    assert "Zero-inflation model:\n Groups Name" in fit.summary()


def test_truncated_poisson_hurdle() -> None:
    fit = mm.glmm(
        "count ~ spp + mined + (1 | site)",
        salamanders(),
        family="truncated_poisson",
        ziformula="~ spp + mined",
    )
    _check(fit, MORE["hurdle_truncpois"])


@functools.cache
def zinb2_pair() -> tuple[Any, Any]:
    m = mm.glmm("count ~ mined + (1 | site)", salamanders(), family="nbinom2", ziformula="~ mined")
    m0 = mm.glmm("count ~ 1 + (1 | site)", salamanders(), family="nbinom2", ziformula="~ mined")
    return m0, m


def test_anova_likelihood_ratio() -> None:
    m0, m = zinb2_pair()
    ref = MORE["anova"]
    tab = m.anova(m0)
    np.testing.assert_allclose(tab["logLik"], ref["logLik"], rtol=1e-6)
    np.testing.assert_allclose(tab["AIC"], ref["AIC"], rtol=1e-6)
    np.testing.assert_allclose(tab["BIC"], ref["BIC"], rtol=1e-6)
    assert tab["Chisq"].iloc[1] == pytest.approx(ref["Chisq"][1], rel=1e-5)
    assert tab["Pr(>Chisq)"].iloc[1] == pytest.approx(ref["p"][1], rel=1e-4)


def test_profile_intervals() -> None:
    """glmmTMB interpolates its profile with a spline: 5e-4 relative."""
    _, m = zinb2_pair()
    ref = MORE["profile"]
    ci = m.confint(method="profile", parm=["cond.(Intercept)", "cond.minedno"])
    np.testing.assert_allclose(ci.iloc[:, 0], ref["lower"], rtol=5e-4)
    np.testing.assert_allclose(ci.iloc[:, 1], ref["upper"], rtol=5e-4)


def test_student_t() -> None:
    """``tools/reference/glmmtmb_families/t_family.R``: scale ``sigma()`` and
    ``psi = log(df)``."""
    ref = json.loads((REFERENCE / "glmmtmb_t_family.json").read_text())
    data = load_case("glmmtmb_orthodont_dispformula")[1]
    fit = mm.glmm("distance ~ age + Sex + (1 | Subject)", data, family="t")
    assert fit.converged, fit.messages
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.df == ref["df"]
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.fixef_se.to_numpy(), list(ref["se"].values()), rtol=1e-3)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    assert fit.params[-1] == pytest.approx(ref["family_params"], rel=1e-4)
    assert float(fit.varcorr["sd"].iloc[0]) == pytest.approx(ref["sd"], rel=1e-3)
