"""``simulate(re_form=...)``: unconditional (lme4's default ``re.form = NA``),
conditional on all random effects (``re.form = NULL``) or on some grouping factors;
and the GLMM simulation vectorised over simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


@pytest.fixture(scope="module")
def crossed() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n, g1, g2 = 600, 30, 12
    a = rng.integers(0, g1, n)
    b = rng.integers(0, g2, n)
    x = rng.normal(size=n)
    eta = 0.5 + 0.4 * x + rng.normal(0, 1.0, g1)[a] + rng.normal(0, 0.7, g2)[b]
    y = eta + rng.normal(0, 0.5, n)
    counts = rng.poisson(np.exp(0.2 + 0.3 * x + rng.normal(0, 0.5, g1)[a]))
    return pd.DataFrame({"y": y, "c": counts, "x": x, "g1": a.astype(str), "g2": b.astype(str)})


@pytest.fixture(scope="module")
def lmm_fit(crossed: pd.DataFrame) -> mm.LMMResult:
    return mm.lmm("y ~ x + (1|g1) + (1|g2)", crossed)


@pytest.fixture(scope="module")
def glmm_fit(crossed: pd.DataFrame) -> mm.GLMMResult:
    return mm.glmm("c ~ x + (1|g1)", crossed, family="poisson")


def test_lmm_default_is_unconditional_and_named_forms_agree(lmm_fit: mm.LMMResult) -> None:
    a = lmm_fit.simulate(3, seed=5)
    pd.testing.assert_frame_equal(a, lmm_fit.simulate(3, seed=5, re_form="NA"))
    pd.testing.assert_frame_equal(a, lmm_fit.simulate(3, seed=5, re_form="~0"))


def test_lmm_conditional_varies_only_by_residual_noise(lmm_fit: mm.LMMResult) -> None:
    sims = lmm_fit.simulate(2000, seed=1, re_form=None).to_numpy()
    fitted = lmm_fit.fitted().to_numpy()
    dev = sims - fitted[:, None]
    assert np.abs(dev.mean(axis=1)).max() < 5 * lmm_fit.sigma / np.sqrt(2000)
    assert dev.std() == pytest.approx(lmm_fit.sigma, rel=0.02)


def test_lmm_conditional_on_one_factor_redraws_the_other(lmm_fit: mm.LMMResult) -> None:
    sims = lmm_fit.simulate(2000, seed=2, re_form="~(1|g1)").to_numpy()
    held = lmm_fit.predict(re_form="~(1|g1)").to_numpy()
    var = lmm_fit.varcorr().set_index("grp")["vcov"]
    dev = sims - held[:, None]
    # New g2 effects and new noise: the variance is var(g2) + sigma^2, not more.
    assert dev.var() == pytest.approx(var["g2"] + var["Residual"], rel=0.08)
    uncond = lmm_fit.simulate(2000, seed=2).to_numpy()
    assert uncond.var(axis=1).mean() > dev.var(axis=1).mean() + 0.5 * var["g1"]


def test_unknown_group_in_re_form_is_an_error(lmm_fit: mm.LMMResult) -> None:
    with pytest.raises(ValueError, match="not in the model"):
        lmm_fit.simulate(1, seed=1, re_form="~(1|nope)")


def test_glmm_conditional_mean_is_the_fitted_mean(glmm_fit: mm.GLMMResult) -> None:
    sims = glmm_fit.simulate(4000, seed=3, re_form=None).to_numpy()
    mu = glmm_fit.fitted().to_numpy()
    se = np.sqrt(mu / 4000)
    assert np.all(np.abs(sims.mean(axis=1) - mu) < 5 * se + 1e-9)


def test_glmm_unconditional_is_overdispersed_relative_to_conditional(
    glmm_fit: mm.GLMMResult,
) -> None:
    uncond = glmm_fit.simulate(2000, seed=4).to_numpy()
    cond = glmm_fit.simulate(2000, seed=4, re_form=None).to_numpy()
    # Poisson given the modes: variance = mean; new random effects add variance.
    assert cond.var(axis=1).mean() == pytest.approx(cond.mean(axis=1).mean(), rel=0.05)
    assert uncond.var(axis=1).mean() > 1.2 * cond.var(axis=1).mean()


def test_glmm_single_simulation_keeps_the_random_stream(glmm_fit: mm.GLMMResult) -> None:
    """nsim=1 draws exactly as the former loop did (the bootstrap relies on it)."""
    rng = np.random.default_rng(11)
    m = glmm_fit.model
    eta = m.X @ glmm_fit._beta
    for t, lam in zip(m.terms, glmm_fit._lambdas(), strict=True):
        b = rng.standard_normal((t.n_levels, t.dim)) @ lam.T
        eta = eta + np.einsum("ij,ij->i", t.Z, b[t.codes])
    expected = glmm_fit.family.simulate(glmm_fit.link.inverse(eta), rng)
    got = glmm_fit.simulate(1, seed=11).to_numpy()[:, 0]
    np.testing.assert_array_equal(got, expected)


def test_glmm_vectorised_simulation_has_the_marginal_moments(glmm_fit: mm.GLMMResult) -> None:
    sims = glmm_fit.simulate(3000, seed=6).to_numpy()
    m = glmm_fit.model
    eta = m.X @ glmm_fit._beta
    var = float(glmm_fit.varcorr()["vcov"].iloc[0])
    marginal = np.exp(eta + var / 2)  # E exp(eta + b), b ~ N(0, var)
    assert sims.mean() == pytest.approx(marginal.mean(), rel=0.05)
    assert sims.shape == (m.X.shape[0], 3000)
    assert list(glmm_fit.simulate(2, seed=1).columns) == ["sim_1", "sim_2"]


def test_binomial_trials_broadcast_over_simulations() -> None:
    cbpp = mm.datasets.load("cbpp")
    cbpp["prop"] = cbpp["incidence"] / cbpp["size"]
    fit = mm.glmm("prop ~ period + (1|herd)", cbpp, family="binomial", weights="size")
    sims = fit.simulate(50, seed=1, re_form=None).to_numpy()
    counts = sims * cbpp["size"].to_numpy()[:, None]
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert np.all((sims >= 0) & (sims <= 1))
