"""Fits that do not depend on the units or origin of a predictor (issue 12, item 1;
decision 0014).

A covariate ``x`` replaced by ``s (x + k)`` is the same model: an unstructured term with
an intercept absorbs the shift, any term the scale, and the fixed effects are a linear
map of each other.  The log-likelihood is the same (REML: minus ``log |s|``, the
Jacobian of the fixed-effect map) and the estimates map exactly.  Before the internal
standardisation, sleepstudy with ``Days + 1e4`` ended 21 log-likelihood units below the
optimum, without a warning.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedmodels as mm
from mixedmodels.linear.standardize import standardize

REFERENCE = Path(__file__).parents[1] / "reference"
FORMULA = "Reaction ~ Days + (Days | Subject)"
LOGLIK_RTOL = 1e-8  # the issue asks 1e-6
PARAM_RTOL = 1e-6  # the issue asks 1e-4


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    data = mm.datasets.load("sleepstudy")
    data["Days"] = data["Days"].astype(float)
    return data


def _moved(data: pd.DataFrame, column: str, scale: float, shift: float) -> pd.DataFrame:
    """``column`` replaced by ``scale * (column + shift)``."""
    out = data.copy()
    out[column] = scale * (out[column] + shift)
    return out


def _map(scale: float, shift: float) -> np.ndarray:
    """``B`` with ``(intercept, slope)_new = B (intercept, slope)`` for ``x' = s (x + k)``:
    ``a + b x = (a - b k) + (b / s) x'``; random effects map the same way."""
    return np.array([[1.0, -shift], [0.0, 1.0 / scale]])


def _check_mapped(base: Any, moved: Any, scale: float, shift: float, reml: bool) -> None:
    B = _map(scale, shift)
    jacobian = np.log(abs(scale)) if reml else 0.0
    assert moved.loglik == pytest.approx(base.loglik - jacobian, rel=LOGLIK_RTOL)
    np.testing.assert_allclose(moved.fixef.to_numpy(), B @ base.fixef.to_numpy(), rtol=PARAM_RTOL)
    vcov = B @ base.vcov.to_numpy() @ B.T
    np.testing.assert_allclose(moved.fixef_se.to_numpy(), np.sqrt(np.diag(vcov)), rtol=PARAM_RTOL)
    assert moved.sigma == pytest.approx(base.sigma, rel=PARAM_RTOL)
    (cov_base,) = base.covariance_matrices().values()
    (cov_moved,) = moved.covariance_matrices().values()
    expected = B @ cov_base.to_numpy() @ B.T
    sd = np.sqrt(np.diag(expected))
    np.testing.assert_allclose(np.sqrt(np.diag(cov_moved.to_numpy())), sd, rtol=PARAM_RTOL)
    cor = cov_moved.to_numpy()[0, 1] / np.prod(np.sqrt(np.diag(cov_moved.to_numpy())))
    assert cor == pytest.approx(expected[0, 1] / np.prod(sd), rel=PARAM_RTOL, abs=1e-9)
    assert moved.converged and moved.singular == base.singular


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize(
    ("scale", "shift"),
    [(1.0, 1e4), (1.0, 1e6), (1e-6, 0.0)],
    ids=["Days+1e4", "Days+1e6", "Days*1e-6"],
)
def test_sleepstudy_shifted_or_rescaled_reaches_lme4s_optimum(
    sleep: pd.DataFrame, reml: bool, scale: float, shift: float
) -> None:
    """The issue's cases: each was ~21 log-likelihood units short, silently."""
    ref = json.loads((REFERENCE / f"lmer_sleepstudy_{'reml' if reml else 'ml'}.json").read_text())[
        "results"
    ]
    optimum = ref["REMLcrit"] if reml else ref["deviance"]
    base = mm.lmm(FORMULA, sleep, reml=reml)
    moved = mm.lmm(FORMULA, _moved(sleep, "Days", scale, shift), reml=reml)
    jacobian = 2.0 * np.log(scale) if reml else 0.0
    assert -2.0 * moved.loglik == pytest.approx(optimum + jacobian, rel=1e-9)
    _check_mapped(base, moved, scale, shift, reml)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    log_scale=st.floats(-6.0, 6.0),
    shift=st.one_of(st.just(0.0), st.floats(-1e6, 1e6)),
    reml=st.booleans(),
)
def test_lmm_is_invariant_to_units_and_origin(
    sleep: pd.DataFrame, log_scale: float, shift: float, reml: bool
) -> None:
    scale = 10.0**log_scale
    base = mm.lmm(FORMULA, sleep, reml=reml)
    moved = mm.lmm(FORMULA, _moved(sleep, "Days", scale, shift), reml=reml)
    _check_mapped(base, moved, scale, shift, reml)


def test_uncorrelated_terms_are_invariant_to_units(sleep: pd.DataFrame) -> None:
    """``||`` terms: a scale is exact (a shift is another model)."""
    formula = "Reaction ~ Days + (Days || Subject)"
    base = mm.lmm(formula, sleep)
    for scale in (1e-6, 1e6):
        moved = mm.lmm(formula, _moved(sleep, "Days", scale, 0.0))
        assert moved.loglik == pytest.approx(base.loglik - np.log(scale), rel=LOGLIK_RTOL)
        vc, vb = moved.varcorr(), base.varcorr()
        slope = (vc["var1"] == "Days").to_numpy()
        np.testing.assert_allclose(
            vc["sdcor"].to_numpy()[slope], vb["sdcor"].to_numpy()[slope] / scale, rtol=PARAM_RTOL
        )


def test_inference_in_the_users_coordinates(sleep: pd.DataFrame) -> None:
    """Satterthwaite and Kenward-Roger df, conditional SDs, fixed-effect profile
    intervals, predictions, refits and the deviance function after a shift and a scale."""
    base = mm.lmm(FORMULA, sleep)
    for scale, shift in ((1.0, 1e4), (1e6, 0.0)):
        moved = mm.lmm(FORMULA, _moved(sleep, "Days", scale, shift))
        for ddf in ("satterthwaite", "kenward-roger"):
            got = mm.coef_table(moved, ddf=ddf).iloc[1]
            want = mm.coef_table(base, ddf=ddf).iloc[1]
            assert got["df"] == pytest.approx(want["df"], rel=1e-6)
            assert got["Std. Error"] == pytest.approx(want["Std. Error"] / scale, rel=1e-6)
        rm = moved.ranef(condvar=True)
        rb = base.ranef(condvar=True)
        days_m, days_b = rm[rm["term"] == "Days"], rb[rb["term"] == "Days"]
        np.testing.assert_allclose(
            days_m["condsd"].to_numpy() * scale, days_b["condsd"].to_numpy(), rtol=1e-6
        )
        np.testing.assert_allclose(moved.fitted().to_numpy(), base.fitted().to_numpy(), rtol=1e-9)
        assert moved.deviance_function()(moved.theta) == pytest.approx(
            moved.reml_criterion, rel=1e-12
        )
        again = moved.refit(moved.model.response)
        assert again.loglik == pytest.approx(moved.loglik, rel=1e-10)
        ci_m = moved.confint(parm="Days", progress=False).to_numpy()[0]
        ci_b = base.confint(parm="Days", progress=False).to_numpy()[0]
        np.testing.assert_allclose(ci_m * scale, ci_b, rtol=1e-6)


def test_units_do_not_decide_singularity(sleep: pd.DataFrame) -> None:
    """A slope SD of 1e-7 in microdays is not a zero variance (the check read lme4's
    theta in the user's units)."""
    moved = mm.lmm(FORMULA, _moved(sleep, "Days", 1e6, 0.0))
    assert not moved.singular


def test_variance_profiles_after_a_large_shift(sleep: pd.DataFrame) -> None:
    """After Days + 1e4 the intercept (at Days = -1e4) and slope correlate to -1 + 1e-7:
    the differences of the profile's start leave [-1, 1] (numpy's 'SVD did not
    converge' before); its curvature comes from the standardised criterion instead.
    The slope's SD and sigma are the same parameters as without the shift."""
    base = mm.lmm(FORMULA, sleep)
    moved = mm.lmm(FORMULA, _moved(sleep, "Days", 1.0, 1e4))
    names = ["sd_Days|Subject", "sigma", "cor_Days.(Intercept)|Subject"]
    got = moved.confint(parm=names, progress=False).to_numpy()
    want = base.confint(parm=names[:2], progress=False).to_numpy()
    np.testing.assert_allclose(got[:2], want, rtol=1e-5)
    assert -1.0 <= got[2, 0] < got[2, 1] < -0.99999


def test_standardisation_leaves_indicator_columns_and_other_structures_alone() -> None:
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame(
        {
            "g": np.repeat(np.arange(6), 10).astype(str),
            "f": np.tile(["a", "b"], 30),
            "x": rng.normal(1e6, 1.0, n),
            "y": rng.normal(size=n),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mm.Model("y ~ f + x + (1 | g) + cs(0 + f | g)", frame)
    from mixedmodels.linear.layout import model_term_data

    transform = standardize(model.X, model_term_data(model))
    fb = model.fixef_names.index("fb")
    x = model.fixef_names.index("x")
    np.testing.assert_array_equal(transform.X[:, fb], model.X[:, fb])  # an indicator
    assert abs(transform.X[:, x].mean()) < 1e-8 and transform.X[:, x].std() == pytest.approx(1)
    assert all(m is None for m in transform.maps)  # (1 | g), and cs() is not a us term


def test_shifted_fit_and_profile_match_lme4(sleep: pd.DataFrame) -> None:
    """Days + 10, where lme4 still converges: its REML criterion, estimates and profile
    intervals in the shifted units (tools/reference/standardization.R).  The
    correlation's profile is one lme4 calls non-monotonic (it falls back to linear
    interpolation): checked loosely."""
    ref = json.loads((REFERENCE / "standardization.json").read_text())
    lme4 = ref["days_plus_10"]
    fit = mm.lmm(FORMULA, _moved(sleep, "Days", 1.0, 10.0))
    assert fit.reml_criterion == pytest.approx(lme4["REMLcrit"], rel=1e-6)
    # lme4 at Days + 1e4 stops 43 units short; we do not.
    assert ref["days_plus_1e4_lme4"]["REMLcrit"] - fit.reml_criterion > 40
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(lme4["fixef"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.fixef_se.to_numpy(), lme4["se"], rtol=1e-4)
    np.testing.assert_allclose(fit.varcorr()["sdcor"].to_numpy(), lme4["sdcor"], rtol=1e-4)
    ci = fit.confint(progress=False)
    for name, (lo, hi) in lme4["profile"].items():
        rtol = 2e-3 if name.startswith("cor_") else 1e-4
        np.testing.assert_allclose(ci.loc[name].to_numpy(), [lo, hi], rtol=rtol, err_msg=name)


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_theta_map_round_trip_and_jacobian(dim: int) -> None:
    """theta -> theta~ -> theta is the identity (singular factors too) and the analytic
    Jacobian of theta -> theta~ is its derivative."""
    from mixedmodels.linear.standardize import TermMap

    rng = np.random.default_rng(dim)
    A = rng.normal(size=(dim, dim)) + 3.0 * np.eye(dim)
    cols, rows = np.triu_indices(dim)
    term = TermMap(A, np.linalg.inv(A), True, rows, cols)
    lam = np.tril(rng.normal(size=(dim, dim)))
    lam[np.diag_indices(dim)] = np.abs(np.diag(lam)) + 0.5
    theta = lam[rows, cols]
    theta_std, _ = term.to_standard(theta)
    np.testing.assert_allclose(term.from_standard(theta_std), theta, rtol=1e-12, atol=1e-13)
    numeric = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        numeric[:, i] = (term.to_standard(up)[0] - term.to_standard(down)[0]) / 2e-6
    np.testing.assert_allclose(term.jacobian(theta), numeric, atol=1e-7)
    singular = lam.copy()
    singular[-1, -1] = 0.0  # a boundary fit
    theta_s = singular[rows, cols]
    back = term.from_standard(term.to_standard(theta_s)[0])
    np.testing.assert_allclose(back, theta_s, atol=1e-12)
