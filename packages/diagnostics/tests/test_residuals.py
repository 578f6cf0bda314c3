"""Simulation-based scaled residuals (DHARMa's simulateResiduals / getQuantile)."""

from __future__ import annotations

import json
from pathlib import Path

import mixedmodels_diagnostics as mmd
import numpy as np
import pandas as pd
import pytest
from mixedmodels_diagnostics._residuals import get_quantile

import mixedmodels as mm

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def poisson_data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(20), 10)
    x = rng.normal(size=200)
    y = rng.poisson(np.exp(0.4 + 0.5 * x + rng.normal(0, 0.5, 20)[g]))
    return pd.DataFrame({"y": y.astype(float), "x": x, "g": g.astype(str)}, index=range(100, 300))


@pytest.fixture(scope="module")
def poisson_fit(poisson_data: pd.DataFrame) -> mm.GLMMResult:
    return mm.glmm("y ~ x + (1|g)", poisson_data, family="poisson")


def test_pit_is_lower_plus_uniform_share_of_ties() -> None:
    sim = np.array([[0.0, 1, 1, 2], [5, 6, 7, 8], [1, 1, 1, 1]])
    obs = np.array([1.0, 9, 0])
    r = get_quantile(sim, obs, np.random.default_rng(1))
    assert 0.25 <= r[0] <= 0.75  # 1 below, 2 ties among 4
    assert r[1] == 1.0 and r[2] == 0.0  # outside the envelope: no randomisation


def test_pit_randomisation_is_uniform_within_ties() -> None:
    sim = np.tile([0.0, 1, 1, 2], (20000, 1))
    r = get_quantile(sim, np.ones(20000), np.random.default_rng(2))
    assert r.min() >= 0.25 and r.max() <= 0.75
    assert np.mean(r < 0.5) == pytest.approx(0.5, abs=0.02)


def test_traditional_ecdf_matches_dharma_ecdf() -> None:
    # DHARMa.ecdf: steps of 1/(n+1), linear interpolation, 0 / 1 outside.
    sim = np.array([[1.5, 2.5, 3.5, 4.5]] * 4)
    obs = np.array([1.0, 2.5, 3.0, 5.0])
    r = get_quantile(sim, obs, np.random.default_rng(0), method="traditional")
    np.testing.assert_allclose(r, [0.0, 0.4, 0.5, 1.0])


def test_traditional_switches_to_integer_for_integer_ties() -> None:
    sim = np.random.default_rng(0).poisson(2.0, (50, 100)).astype(float)
    with pytest.warns(UserWarning, match="integer residuals"):
        get_quantile(sim, sim[:, 0], np.random.default_rng(0), method="traditional")


def test_simulate_residuals_shapes_index_and_frame(poisson_fit, poisson_data) -> None:
    res = mmd.simulate_residuals(poisson_fit, n=100, seed=1)
    assert res.simulated.shape == (200, 100)
    assert res.n_obs == 200 and res.n_sim == 100
    assert list(res.residuals.index) == list(poisson_data.index)
    frame = res.to_frame()
    assert list(frame.columns) == ["observed", "fitted", "scaled_residual"]
    np.testing.assert_array_equal(frame["observed"], poisson_data["y"])
    np.testing.assert_allclose(frame["fitted"], poisson_fit.fitted())
    assert res.integer_response and res.family == "poisson" and not res.conditional
    assert ((res.residuals >= 0) & (res.residuals <= 1)).all()
    again = mmd.simulate_residuals(poisson_fit, n=100, seed=1)
    pd.testing.assert_series_equal(res.residuals, again.residuals)


def test_residuals_lie_within_their_pit_bounds(poisson_fit) -> None:
    res = mmd.simulate_residuals(poisson_fit, n=250, seed=3)
    lower = np.mean(res.simulated < res.observed[:, None], axis=1)
    upper = np.mean(res.simulated <= res.observed[:, None], axis=1)
    r = res.residuals.to_numpy()
    assert np.all((r >= lower) & (r <= upper))


def test_conditional_simulation_is_centred_on_fitted(poisson_fit) -> None:
    res = mmd.simulate_residuals(poisson_fit, n=2000, seed=2, conditional=True)
    assert res.conditional
    np.testing.assert_allclose(res.simulated.mean(axis=1), res.fitted, rtol=0.15, atol=0.15)


def test_binomial_counts_are_on_the_trials_scale() -> None:
    cbpp = mm.datasets.load("cbpp")
    cbpp["prop"] = cbpp["incidence"] / cbpp["size"]
    fit = mm.glmm("prop ~ period + (1|herd)", cbpp, family="binomial", weights="size")
    res = mmd.simulate_residuals(fit, n=50, seed=1)
    np.testing.assert_allclose(res.observed, cbpp["incidence"])
    assert np.all(res.simulated <= cbpp["size"].to_numpy()[:, None])
    np.testing.assert_allclose(res.simulated, np.round(res.simulated), atol=1e-9)


def test_lmm_residuals_are_continuous() -> None:
    fit = mm.lmm("Reaction ~ Days + (Days|Subject)", mm.datasets.load("sleepstudy"))
    res = mmd.simulate_residuals(fit, n=100, seed=1)
    assert res.family == "gaussian" and not res.integer_response
    assert mmd.test_uniformity(res).p_value > 0.01


def test_refit_uses_the_bootstrap_refits(poisson_fit) -> None:
    res = mmd.simulate_residuals(poisson_fit, n=20, seed=4, refit=True)
    assert res.refit and res.refitted_residuals is not None
    assert res.refitted_residuals.shape == (200, res.n_sim)
    np.testing.assert_allclose(res.fitted_residuals, poisson_fit.residuals("deviance"))
    lower = np.mean(res.refitted_residuals < res.fitted_residuals[:, None], axis=1)
    upper = np.mean(res.refitted_residuals <= res.fitted_residuals[:, None], axis=1)
    r = res.residuals.to_numpy()
    assert np.all((r >= lower) & (r <= upper))
    disp = mmd.test_dispersion(res)
    assert "refitted" in disp.method and 0 <= disp.p_value <= 1


def test_from_simulations_matches_r_pit_bounds() -> None:
    """lme4's simulate() matrix from R: the PIT bounds are DHARMa's getQuantile's."""
    data = pd.read_csv(REF / "dharma_poisson_data.csv")
    sims = pd.read_csv(REF / "dharma_poisson_simulations.csv").to_numpy()
    ref = json.loads((REF / "dharma_poisson_reference.json").read_text())
    res = mmd.ScaledResiduals.from_simulations(data["y"], sims, data["fitted"], seed=1)
    assert res.integer_response
    r = res.residuals.to_numpy()
    lower, upper = np.array(ref["lower"]), np.array(ref["upper"])
    assert np.all((r >= lower - 1e-12) & (r <= upper + 1e-12))
    np.testing.assert_array_equal(r[lower == upper], lower[lower == upper])


def test_from_simulations_checks_shapes() -> None:
    with pytest.raises(ValueError, match="rows but observed has length 3"):
        mmd.ScaledResiduals.from_simulations(np.zeros(3), np.zeros((4, 10)))


@pytest.mark.parametrize("bad", [None, "a string", pd.DataFrame({"a": [1]})])
def test_unsupported_result_is_a_clear_error(bad) -> None:
    with pytest.raises(TypeError, match=r"simulate_residuals.*LMMResult or GLMMResult"):
        mmd.simulate_residuals(bad)
    with pytest.raises(TypeError, match="test_uniformity"):
        mmd.test_uniformity(bad)


def test_n_must_be_positive(poisson_fit) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        mmd.simulate_residuals(poisson_fit, n=0)


def test_scaled_residuals_repr_html(poisson_fit) -> None:
    """Issue 19: notebooks show what was simulated and the residuals' quantiles."""
    res = mmd.simulate_residuals(poisson_fit, n=100, seed=1)
    html = res._repr_html_()
    q = np.quantile(res.residuals.to_numpy(), 0.5)
    assert html.startswith('<table class="mixedmodels-table" style="border-collapse:collapse">')
    assert "ScaledResiduals n_obs=" in html and f"{q:.4f}" in html and "seed: 1" in html
