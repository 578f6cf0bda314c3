"""A short simulation-based calibration (``nox -s sbc`` runs 200 replicates)."""

from __future__ import annotations

import os
import warnings

import pytest
from bayes_sbc import MODELS, model_seed, run_sbc

# Sampling these models takes minutes per case on a 2-core CI machine (more than the
# rest of the plugin's tests together), so they run in ``nox -s bayes_reference``
# (``MIXEDMODELS_BAYES_SLOW=1``), not in ``nox -s tests``.
slow = pytest.mark.skipif(
    os.environ.get("MIXEDMODELS_BAYES_SLOW") != "1",
    reason="slow posterior checks: set MIXEDMODELS_BAYES_SLOW=1 (nox -s bayes_reference)",
)


def test_models_draw_distinct_replicates():
    # one seed for every model made the two Gaussian samplers' checks the same draws
    for seed in (1, 3):
        seeds = [model_seed(name, seed) for name in MODELS]
        assert len(set(seeds)) == len(seeds)
    assert model_seed("gaussian_collapsed", 1) != model_seed("gaussian_joint", 1)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("gaussian_collapsed", marks=slow),
        pytest.param("binomial_joint", marks=slow),
        # nothing to compile and a few milliseconds per replicate: always run
        "gaussian_collapsed_imh",
        "binomial_collapsed_imh",
    ],
)
def test_short_sbc(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_sbc(name, replicates=24, seed=3, draws=200, thin=4, bins=4)
    assert set(res["p_values"]) >= {"b_Intercept", "b_x", "sd_g__Intercept"}
    bad = {k: p for k, p in res["p_values"].items() if not p > 0.01}
    assert not bad, f"ranks not uniform: {bad}"
