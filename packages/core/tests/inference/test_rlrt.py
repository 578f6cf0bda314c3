"""Exact restricted likelihood-ratio test (:func:`mixedmodels.exact_rlrt`, RLRsim's
``exactRLRT``).

Reference: the shared case ``rlrsim_sleepstudy_random_slope`` (RLRsim 3.1-8: random
slope tested in the presence of a random intercept, nsim = 10000) and, from
``tools/reference/inference_reference.R``, a model with a single random effect
(Dyestuff).  The statistic is exact (1e-6 relative); the p-value and the quantiles of
the simulated null distribution are compared within Monte Carlo error (our sample:
100,000 draws; RLRsim's quantiles come from 10,000, whose standard errors are a few
hundredths).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import RLRTResult

REFERENCE = Path(__file__).parents[1] / "reference"
CASE = json.loads((REFERENCE / "rlrsim_sleepstudy_random_slope.json").read_text())["results"]
DYESTUFF = json.loads((REFERENCE / "inference_reference.json").read_text())["rlrt_dyestuff"]


@pytest.fixture(scope="module")
def models(sleep: pd.DataFrame) -> dict[str, Any]:
    return {
        "mA": mm.lmm("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep),
        "m0": mm.lmm("Reaction ~ Days + (1 | Subject)", sleep),
        "m": mm.lmm("Reaction ~ Days + (0 + Days | Subject)", sleep),
    }


def test_random_slope_statistic_and_p_value(models: dict[str, Any]) -> None:
    res = mm.exact_rlrt(models["m"], models["mA"], models["m0"], nsim=100_000, seed=1)
    assert isinstance(res, RLRTResult)
    np.testing.assert_allclose(res.statistic, CASE["RLRT_statistic"], rtol=1e-6)
    np.testing.assert_allclose(res.statistic, CASE["REMLcrit_m0"] - CASE["REMLcrit_mA"], rtol=1e-6)
    assert res.p_value == CASE["p_value"] == 0.0  # 42.8 is far in the tail
    quantiles = np.quantile(res.sample, [0.5, 0.9, 0.95, 0.99])
    ref = CASE["null_distribution_sample_summary"]
    expected = [ref["50%"], ref["90%"], ref["95%"], ref["99%"]]
    np.testing.assert_allclose(quantiles, expected, atol=0.4, rtol=0.06)
    assert quantiles[0] == 0.0 and 0.5 < np.mean(res.sample == 0) < 0.6
    assert res.nsim == 100_000 and res.sample.shape == (100_000,)


def test_single_random_effect_dyestuff() -> None:
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff"))
    res = mm.exact_rlrt(fit, nsim=100_000, seed=2)
    np.testing.assert_allclose(res.statistic, DYESTUFF["statistic"], rtol=1e-6)
    # RLRsim: 0.004 from 10,000 draws (SE 0.0006); ours from 100,000 (SE 0.0002).
    assert abs(res.p_value - DYESTUFF["p_value"]) < 0.0025
    q = DYESTUFF["quantiles"]
    np.testing.assert_allclose(
        np.quantile(res.sample, [0.9, 0.95, 0.99]),
        [q["90%"], q["95%"], q["99%"]],
        rtol=0.1,
    )


def test_same_seed_same_sample(models: dict[str, Any]) -> None:
    a = mm.exact_rlrt(models["m"], models["mA"], models["m0"], nsim=500, seed=9)
    b = mm.exact_rlrt(models["m"], models["mA"], models["m0"], nsim=500, seed=9)
    np.testing.assert_array_equal(a.sample, b.sample)


def test_zero_statistic_needs_no_simulation() -> None:
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    res = mm.exact_rlrt(fit, seed=1)
    assert res.statistic == 0.0 and res.p_value == 1.0 and res.nsim == 0


def test_bad_input(sleep: pd.DataFrame, models: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="give both mA"):
        mm.exact_rlrt(models["m"], mA=models["mA"])
    with pytest.raises(ValueError, match="only a single random effect"):
        mm.exact_rlrt(models["mA"])
    corr = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    with pytest.raises(ValueError, match="can only test a single variance"):
        mm.exact_rlrt(models["m"], corr, models["m0"])
    other_fixed = mm.lmm("Reaction ~ 1 + (1 | Subject)", sleep)
    with pytest.raises(ValueError, match="fixed effects structures of mA and m0"):
        mm.exact_rlrt(models["m"], models["mA"], other_fixed)
    with pytest.raises(ValueError, match="nsim must be a positive integer"):
        mm.exact_rlrt(models["m"], models["mA"], models["m0"], nsim=0)
    with pytest.raises(NotImplementedError, match="scalar random effects"):
        mm.exact_rlrt(corr, models["mA"], models["m0"])
