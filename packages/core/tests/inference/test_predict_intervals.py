"""``predict(..., se_fit=True, interval=...)`` of LMMs and GLMMs (issue 19, item 5).

Reference: ``tools/reference/predict_intervals.R`` (R 4.2.2, lme4 1.1-31, glmmTMB):
sleepstudy population-level SEs by hand from lme4's ``vcov``, conditional SEs from the
mixed-model equations with lme4's ``X``, ``Z``, ``Lambda``, ``sigma`` (Henderson's
prediction error variance), a new subject's prediction SD adding the random effects'
and the residual variance; cbpp's population-level link and response SEs from
glmmTMB's ``predict(se.fit = TRUE, re.form = NA)``.  Tolerance 1e-4 relative
(observed: 6e-6 for the LMM, where our theta and lme4's differ in the seventh digit;
7e-7 against glmmTMB).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

REF = json.loads((Path(__file__).parents[1] / "reference" / "predict_intervals.json").read_text())
RTOL = 1e-4
Z975 = 1.959963984540054


@pytest.fixture(scope="module")
def sleep_fit() -> Any:
    return mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def cbpp_fit() -> Any:
    return mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        mm.datasets.load("cbpp"),
        family="binomial",
    )


def test_population_level_confidence_intervals(sleep_fit: Any) -> None:
    ref = REF["lmm"]
    p = sleep_fit.predict(re_form="NA", se_fit=True, interval="confidence")
    assert list(p.columns) == ["fit", "se.fit", "lwr", "upr"]
    np.testing.assert_allclose(p["fit"], ref["population_fit"], rtol=1e-8)
    np.testing.assert_allclose(p["se.fit"], ref["population_se"], rtol=RTOL)
    np.testing.assert_allclose(p["upr"] - p["fit"], Z975 * p["se.fit"], rtol=1e-12)
    ci90 = sleep_fit.predict(re_form="NA", interval="confidence", level=0.9)
    assert list(ci90.columns) == ["fit", "lwr", "upr"]
    np.testing.assert_allclose(ci90["upr"] - ci90["fit"], 1.6448536269514722 * p["se.fit"])


def test_conditional_and_prediction_intervals(sleep_fit: Any) -> None:
    ref = REF["lmm"]
    c = sleep_fit.predict(se_fit=True, interval="prediction")
    np.testing.assert_allclose(c["fit"], ref["conditional_fit"], rtol=1e-6)
    np.testing.assert_allclose(c["se.fit"], ref["conditional_se"], rtol=RTOL)
    sd = np.sqrt(c["se.fit"] ** 2 + ref["sigma"][0] ** 2)
    np.testing.assert_allclose(c["upr"] - c["fit"], Z975 * sd, rtol=RTOL)
    # A new subject: its random effects are unknown, so they add their variance.
    new = pd.DataFrame({"Days": ref["new_days"], "Subject": "new"})
    n = sleep_fit.predict(new, allow_new_levels=True, se_fit=True, interval="prediction")
    np.testing.assert_allclose(n["fit"], ref["new_fit"], rtol=1e-8)
    np.testing.assert_allclose(n["se.fit"], ref["new_se"], rtol=RTOL)
    np.testing.assert_allclose((n["upr"] - n["fit"]) / Z975, ref["new_prediction_sd"], rtol=RTOL)


def test_glmm_against_glmmtmb(cbpp_fit: Any) -> None:
    ref = REF["glmm_tmb"]
    link = cbpp_fit.predict(re_form="NA", se_fit=True)
    np.testing.assert_allclose(link["fit"], ref["link_fit"], rtol=RTOL)
    np.testing.assert_allclose(link["se.fit"], ref["link_se"], rtol=RTOL)
    resp = cbpp_fit.predict(re_form="NA", se_fit=True, type="response", interval="confidence")
    np.testing.assert_allclose(resp["fit"], ref["response_fit"], rtol=RTOL)
    np.testing.assert_allclose(resp["se.fit"], ref["response_se"], rtol=RTOL)
    # Response-scale limits are the link-scale limits back-transformed.
    lo = link["fit"] - Z975 * link["se.fit"]
    np.testing.assert_allclose(resp["lwr"], 1 / (1 + np.exp(-lo)), rtol=1e-10)
    # Conditional: the modes' uncertainty adds to the fixed effects'.
    cond = cbpp_fit.predict(se_fit=True)
    assert np.all(cond["se.fit"] > 0)
    with pytest.raises(ValueError, match="prediction intervals are for linear mixed models"):
        cbpp_fit.predict(interval="prediction")


def test_bootstrap_intervals(sleep_fit: Any) -> None:
    new = pd.DataFrame({"Days": [0.0, 9.0], "Subject": "new"})
    kwargs = dict(re_form="NA", se_fit=True, interval="confidence", method="bootstrap", nsim=30)
    a = sleep_fit.predict(new, seed=3, **kwargs)
    b = sleep_fit.predict(new, seed=3, **kwargs)
    pd.testing.assert_frame_equal(a, b)
    assert np.all(a["lwr"] < a["fit"]) and np.all(a["fit"] < a["upr"])
    wald = sleep_fit.predict(new, re_form="NA", se_fit=True)
    # 30 refits: the bootstrap SD is within a factor 2 of the Wald SE.
    assert np.all(np.abs(np.log(a["se.fit"] / wald["se.fit"])) < np.log(2.0))
    with pytest.raises(ValueError, match="bootstrap"):
        sleep_fit.predict(new, re_form="NA", interval="prediction", method="bootstrap")


def test_plain_predict_is_unchanged_and_bad_requests(sleep_fit: Any) -> None:
    plain = sleep_fit.predict()
    assert isinstance(plain, pd.Series)
    with pytest.raises(ValueError, match="interval must be one of"):
        sleep_fit.predict(interval="credible")
    with pytest.raises(ValueError, match="level must lie"):
        sleep_fit.predict(interval="confidence", level=95)
