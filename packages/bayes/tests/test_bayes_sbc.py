"""A short simulation-based calibration (``nox -s sbc`` runs 200 replicates)."""

from __future__ import annotations

import warnings

import pytest
from bayes_sbc import run_sbc


@pytest.mark.parametrize("name", ["gaussian_collapsed", "binomial_joint"])
def test_short_sbc(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_sbc(name, replicates=24, seed=3, draws=200, thin=4, bins=4)
    assert set(res["p_values"]) >= {"b_Intercept", "b_x", "sd_g__Intercept"}
    bad = {k: p for k, p in res["p_values"].items() if not p > 0.01}
    assert not bad, f"ranks not uniform: {bad}"
