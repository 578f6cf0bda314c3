"""Spatial GLMMs with a nearest-neighbour field prior (Laplace over the field): with
m = u - 1 the prior is the exact GP and the fit is glmmTMB's / the core's exact
Laplace fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mixedmodels_spatial import glmmtmb_theta, num_factor, spatial_glmm
from mixedmodels_spatial._glmm import _Problem
from mixedmodels_spatial._kernel import make_kernel
from mixedmodels_spatial._latent import latent_plan
from spatial_helpers import REFERENCE

import mixedmodels as mm


@pytest.fixture(scope="module")
def poisson():
    import json

    ref = json.loads((REFERENCE / "glmmtmb_poisson_matern.json").read_text())
    data = pd.read_csv(REFERENCE / "glmmtmb_poisson_matern.csv", dtype={"pos": str, "group": str})
    return ref, data


def test_laplace_objective_is_glmmtmbs_at_its_estimates(poisson):
    # glmmTMB(y ~ x + mat(pos + 0 | group), family = poisson): its logLik at its theta.
    ref, data = poisson
    xy = data[["gx", "gy"]].to_numpy()
    kernel = make_kernel("matern", xy)
    lp = latent_plan(xy, 99)  # 100 distinct locations: the exact GP
    X = np.column_stack([np.ones(len(data)), data["x"]])
    problem = _Problem("poisson", kernel, lp, data["y"].to_numpy(float), X, np.ones(len(data)))
    z = np.concatenate([list(ref["fixef"].values()), ref["theta"]])
    assert -problem.objective(z) == pytest.approx(ref["logLik"], rel=1e-7)
    # A nearest-neighbour prior is an approximation, not the same value.
    small = _Problem("poisson", kernel, latent_plan(xy, 3), problem.y, X, problem.trials)
    assert -small.objective(z) != pytest.approx(ref["logLik"], rel=1e-7)


def _subset(data, k):
    locs = data[["gx", "gy"]].drop_duplicates().iloc[:k]
    return data.merge(locs, on=["gx", "gy"])


def test_poisson_fit_at_m_u_minus_1_is_the_core_exact_laplace(poisson):
    _, data = poisson
    sub = _subset(data, 30)
    core = mm.glmm("y ~ x + exp(pos + 0 | group)", sub, family="poisson")
    ours = spatial_glmm("y ~ x", sub, ["gx", "gy"], structure="exp", m=29)
    assert ours.converged
    assert ours.loglik == pytest.approx(core.loglik, rel=1e-8)
    np.testing.assert_allclose(ours.fixef, core.fixef, rtol=1e-4)
    np.testing.assert_allclose(ours.glmmtmb_theta(), glmmtmb_theta(core), rtol=1e-4)
    # The analytic gradient drives the fit to the same optimum.
    analytic = spatial_glmm("y ~ x", sub, ["gx", "gy"], structure="exp", m=29, gradient=True)
    assert analytic.loglik == pytest.approx(core.loglik, rel=1e-8)
    np.testing.assert_allclose(analytic.fixef, core.fixef, rtol=1e-4)
    # m = 10: close to the exact fit.
    near = spatial_glmm("y ~ x", sub, ["gx", "gy"], structure="exp", m=10)
    assert near.loglik == pytest.approx(core.loglik, rel=1e-2)


def test_binomial_fit_at_m_u_minus_1_is_the_core_exact_laplace():
    rng = np.random.default_rng(4)
    locs = rng.uniform(0, 3, (25, 2))
    site = rng.integers(0, 25, 150)
    w = np.linalg.cholesky(
        np.exp(-np.sqrt(((locs[:, None] - locs[None]) ** 2).sum(-1)) / 0.8) + 1e-10 * np.eye(25)
    ) @ rng.normal(size=25)
    d = pd.DataFrame({"gx": locs[site, 0], "gy": locs[site, 1], "x": rng.normal(size=150)})
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-(-0.3 + 0.8 * d["x"] + w[site]))))
    d["pos"] = num_factor(d, ["gx", "gy"])
    d["group"] = "1"
    core = mm.glmm("y ~ x + exp(pos + 0 | group)", d, family="binomial")
    ours = spatial_glmm("y ~ x", d, ["gx", "gy"], family="binomial", structure="exp", m=24)
    assert ours.loglik == pytest.approx(core.loglik, rel=1e-8)
    np.testing.assert_allclose(ours.fixef, core.fixef, rtol=1e-4)


def test_spatial_glmm_bad_input(poisson):
    _, data = poisson
    with pytest.raises(ValueError, match="takes the families"):
        spatial_glmm("y ~ x", data, ["gx", "gy"], family="inverse.gaussian")
    with pytest.raises(ValueError, match=r"u - 1 = 99"):
        spatial_glmm("y ~ x", data, ["gx", "gy"], m=100)
    bad = data.assign(y=data["y"] - 5)
    with pytest.raises(ValueError, match="non-negative counts"):
        spatial_glmm("y ~ x", bad, ["gx", "gy"])
    with pytest.raises(KeyError, match="lat"):
        spatial_glmm("y ~ x", data, ["gx", "lat"])
