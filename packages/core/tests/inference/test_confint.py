"""Confidence intervals (:meth:`mixedmodels.LMMResult.confint`): Wald and profile.

Reference figures: lme4 1.1-31 ``confint(fit, method = "profile")`` for Dyestuff and
sleepstudy (shared reference set) and, from ``tools/reference/inference_reference.R``,
for an ML fit, an uncorrelated-slope fit and a crossed two-term fit (Penicillin).
lme4 interpolates a spline through a grid of profile points, we solve for the ends:
the agreement asked for is 1e-3 relative (observed: below 2e-4).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

# Private: the profiler and the variance-parameter map are tested directly.
from mixedmodels.inference import confint as _confint
from mixedmodels.inference import profile as _profile

REFERENCE = Path(__file__).parents[1] / "reference"
REF = json.loads((REFERENCE / "inference_reference.json").read_text())
RTOL = 1e-3
SLEEP = "Reaction ~ Days + (Days | Subject)"


def shared(case: str) -> dict[str, Any]:
    return json.loads((REFERENCE / f"{case}.json").read_text())["results"]["confint_profile_95"]


@pytest.fixture(scope="module")
def fit(sleep: pd.DataFrame) -> Any:
    return mm.lmm(SLEEP, sleep)


@pytest.fixture(scope="module")
def profile(fit: Any) -> pd.DataFrame:
    return fit.confint(progress=False)


def test_profile_sleepstudy_matches_lme4(profile: pd.DataFrame) -> None:
    ref = shared("confint_profile_sleepstudy")
    assert list(profile.columns) == ref["colnames"] == ["2.5 %", "97.5 %"]
    assert list(profile.index) == [
        "sd_(Intercept)|Subject",
        "cor_Days.(Intercept)|Subject",
        "sd_Days|Subject",
        "sigma",
        "(Intercept)",
        "Days",
    ]
    np.testing.assert_allclose(profile.to_numpy(), ref["values"], rtol=RTOL)


def test_profile_dyestuff_matches_lme4() -> None:
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff"))
    ci = fit.confint(progress=False)
    ref = shared("confint_profile_dyestuff")
    assert list(ci.index) == ["sd_(Intercept)|Batch", "sigma", "(Intercept)"]
    np.testing.assert_allclose(ci.to_numpy(), ref["values"], rtol=RTOL)


@pytest.mark.parametrize(
    ("case", "formula", "data", "reml"),
    [
        ("profile_sleepstudy_ml", SLEEP, "sleepstudy", False),
        ("profile_sleepstudy_uncorr", "Reaction ~ Days + (Days || Subject)", "sleepstudy", True),
        ("profile_penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin", True),
    ],
)
def test_profile_more_models(case: str, formula: str, data: str, reml: bool) -> None:
    fit = mm.lmm(formula, mm.datasets.load(data), reml=reml)
    ci = fit.confint(progress=False)
    ref = REF[case]["ci"]
    assert list(ci.index) == ref["rownames"]
    np.testing.assert_allclose(ci.to_numpy(), ref["values"], rtol=RTOL)


def test_wald_is_lme4s(fit: Any) -> None:
    ci = fit.confint(method="wald")
    ref = REF["wald_sleepstudy"]
    np.testing.assert_allclose(ci.to_numpy()[4:], np.array(ref["values"][4:], float), rtol=1e-4)
    assert ci.iloc[:4].isna().all().all()  # lme4: no Wald intervals for these


def test_parameter_selection_and_level(fit: Any, profile: pd.DataFrame) -> None:
    old = fit.confint(parm=[".sig03", ".sigma", "Days"], progress=False)
    assert list(old.index) == ["sd_Days|Subject", "sigma", "Days"]
    np.testing.assert_allclose(old.to_numpy(), profile.loc[old.index].to_numpy(), rtol=1e-6)
    assert list(fit.confint(parm="beta_", method="wald").index) == ["(Intercept)", "Days"]
    assert len(fit.confint(parm="theta_", method="wald")) == 4
    assert list(fit.confint(parm=[5], method="wald").index) == ["Days"]
    ci90 = fit.confint(parm="Days", level=0.9, progress=False)
    assert list(ci90.columns) == ["5 %", "95 %"]
    assert ci90.iloc[0, 0] > profile.loc["Days"].iloc[0]
    assert list(fit.confint(parm="Days", level=0.99, method="wald").columns) == [
        "0.5 %",
        "99.5 %",
    ]


def test_bad_parameters(fit: Any) -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'sd_Day\|Subject'.*sd_Days\|Subject"):
        fit.confint(parm="sd_Day|Subject")
    with pytest.raises(ValueError, match="out of range"):
        fit.confint(parm=[17], method="wald")
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        fit.confint(level=95)
    with pytest.raises(ValueError, match="unknown method 'likelihood'"):
        fit.confint(method="likelihood")


def test_singular_fit_profile_reaches_the_bound() -> None:
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    assert fit.singular
    ci = fit.confint(progress=False)
    assert ci.loc["sd_(Intercept)|Batch"].iloc[0] == 0.0
    # R: confint(lmer(Yield ~ 1 + (1 | Batch), Dyestuff2), oldNames = FALSE)
    np.testing.assert_allclose(
        ci.to_numpy()[:, 1],
        [2.084043489, 4.815832552, 7.019092347],
        rtol=RTOL,
    )
    np.testing.assert_allclose(ci.to_numpy()[1:, 0], [2.892831020, 4.312100217], rtol=RTOL)
    assert (
        ci.loc[["sigma", "(Intercept)"]].iloc[:, 0] < ci.loc[["sigma", "(Intercept)"]].iloc[:, 1]
    ).all()


def test_progress_bar_can_be_shown_and_switched_off(
    fit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Private: the progress bar's output is tested.
    from mixedmodels.numerics.progress import Progress

    fit.confint(parm="Days", progress=False)
    assert capsys.readouterr().err == ""
    stream = io.StringIO()
    with Progress(4, "profile", "always", stream=stream) as bar:
        for _ in range(4):
            bar.update()
    text = stream.getvalue()
    assert "profile" in text and "4/4" in text and text.endswith("\n")
    # Issue 19: a stream that is not a terminal (a CI log, a notebook) gets the bar too.
    log = io.StringIO()
    with Progress(4, "profile", True, stream=log) as bar:
        bar.update(4)
    assert "4/4" in log.getvalue()
    quiet = io.StringIO()
    with Progress(4, "profile", False, stream=quiet) as bar:
        bar.update(4)
    assert quiet.getvalue() == ""


def test_wald_and_profile_agree_on_a_large_data_set() -> None:
    """Asymptotically the profile is quadratic: on 6,000 observations the profile and
    Wald intervals of the fixed effects agree to a few percent of their width, and the
    profile intervals of the variance parameters are close to symmetric Wald intervals
    from the curvature of the deviance."""
    rng = np.random.default_rng(11)
    groups, per = 300, 20
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    b0 = rng.normal(scale=2.0, size=groups)
    b1 = rng.normal(scale=0.5, size=groups)
    y = 1.0 + 0.3 * x + b0[g] + b1[g] * x + rng.normal(size=groups * per)
    data = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})
    fit = mm.lmm("y ~ x + (x | g)", data, reml=False)
    prof = fit.confint(progress=False)
    wald = fit.confint(method="wald")
    fixed = ["(Intercept)", "x"]
    width = (wald.loc[fixed].iloc[:, 1] - wald.loc[fixed].iloc[:, 0]).to_numpy()
    diff = np.abs(prof.loc[fixed].to_numpy() - wald.loc[fixed].to_numpy())
    assert np.all(diff < 0.02 * width[:, None])
    profiler = _profile._Profiler(fit)  # private: the test is about the profiler itself
    z = 1.959963984540054
    names = _confint.variance_parameter_names(fit)
    lo = profiler.psi_hat - z * profiler.se_psi
    hi = profiler.psi_hat + z * profiler.se_psi
    w = hi - lo
    np.testing.assert_allclose(prof.loc[names].iloc[:, 0], lo, atol=0.06 * w.max())
    np.testing.assert_allclose(prof.loc[names].iloc[:, 1], hi, atol=0.06 * w.max())
    for name, width_i, lo_i, hi_i in zip(names, w, lo, hi, strict=True):
        got = prof.loc[name].to_numpy()
        assert abs(got[0] - lo_i) < 0.06 * width_i and abs(got[1] - hi_i) < 0.06 * width_i, name


def test_wald_intervals_of_a_glmm() -> None:
    # (GLMM profile intervals: test_glmm_confint.py)
    g = mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        mm.datasets.load("cbpp"),
        family="binomial",
    )
    ci = _confint.confint(g, method="wald")
    assert ci.loc[["(Intercept)"]].notna().all().all()
