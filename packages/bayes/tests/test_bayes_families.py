"""Families, offsets and weights of the joint sampler against the core's ML fits.

With a weak prior and informative data the posterior mean lies close to the maximum
likelihood estimate; an ignored offset, wrong link or wrong likelihood moves it by many
posterior SDs.  Each check: |posterior mean - ML estimate| < 1 posterior SD.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from mixedmodels_bayes import brm

import mixedmodels as mm

# Three families x 2 chains take minutes on 2 cores: nox -s bayes_reference runs them.
slow = pytest.mark.skipif(
    os.environ.get("MIXEDMODELS_BAYES_SLOW") != "1",
    reason="NUTS sampling tests: set MIXEDMODELS_BAYES_SLOW=1 (nox -s bayes_reference)",
)


def _data(family: str) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(12), 30)
    x = rng.standard_normal(g.size)
    u = 0.4 * rng.standard_normal(12)[g]
    expo = rng.uniform(1, 5, g.size)
    eta = 0.3 + 0.5 * x + u
    if family == "poisson":
        y = rng.poisson(expo * np.exp(eta))
    elif family == "negative_binomial":
        mu = expo * np.exp(eta)
        y = rng.negative_binomial(3.0, 3.0 / (3.0 + mu))
    else:  # Gamma, log link, shape 5
        y = rng.gamma(5.0, np.exp(eta) / 5.0)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str), "expo": expo})


@slow
@pytest.mark.parametrize(
    "family, formula, kwargs",
    [
        ("poisson", "y ~ x + (1 | g) + offset(log(expo))", {}),
        ("negative_binomial", "y ~ x + (1 | g)", {"offset": "lexpo"}),
        ("Gamma", "y ~ x + (1 | g)", {"link": "log"}),
    ],
)
def test_family_posterior_near_ml(family, formula, kwargs):
    data = _data(family)
    data["lexpo"] = np.log(data["expo"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = mm.glmm(formula, data, family="poisson") if family == "poisson" else None
        fit = brm(
            formula,
            data,
            family=family,
            chains=2,
            draws=400,
            warmup=400,
            seed=2,
            progress=False,
            **kwargs,
        )
    fx = fit.fixef()
    if ml is not None:
        for name, est in ml.fixef.items():
            key = "Intercept" if name == "(Intercept)" else name
            assert abs(fx.loc[key, "Estimate"] - est) < fx.loc[key, "Est.Error"], (name, est)
    # the truth of the simulation: intercept 0.3, slope 0.5
    assert abs(fx.loc["x", "Estimate"] - 0.5) < 3 * fx.loc["x", "Est.Error"]
    assert abs(fx.loc["Intercept", "Estimate"] - 0.3) < 4 * fx.loc["Intercept", "Est.Error"] + 0.1
    if family != "poisson":
        shape = fit.scalars["shape"].mean()
        truth = 3.0 if family == "negative_binomial" else 5.0
        assert abs(shape / truth - 1) < 0.35


def test_collapsed_marginal_is_the_gaussian_marginal(sleepstudy):
    """log p(y | theta, sigma) of the collapsed sampler against the dense multivariate
    normal density of y (random effects and normal-prior fixed effects integrated out,
    precision weights), compared as differences between two parameter points."""
    import jax.numpy as jnp
    from mixedmodels_bayes._collapsed import (
        _z_matrix,
        collapsed_info,
        log_marginal,
        log_marginal_blocked,
    )
    from mixedmodels_bayes._estimator import _options
    from scipy import stats

    rng = np.random.default_rng(3)
    w = rng.uniform(0.5, 2.0, len(sleepstudy))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.Model("Reaction ~ Days + (Days | Subject)", sleepstudy, weights=w)
    priors = ["prior(normal(250, 100), class = Intercept)", "prior(normal(0, 20), class = b)"]
    _, bd, ps, _ = _options(m, {"priors": priors})
    info = collapsed_info(bd, ps)
    assert len(info.sampled_idx) == 0
    Z = _z_matrix(bd)[0].toarray()
    X = np.column_stack([np.ones(bd.n), bd.Xc])

    def dense(sd, rho, sigma):
        cov = np.diag(sd) @ np.array([[1, rho], [rho, 1]]) @ np.diag(sd)
        G = np.kron(np.eye(18), cov)
        S0 = np.diag([100.0**2, 20.0**2])
        V = Z @ G @ Z.T + X @ S0 @ X.T + sigma**2 * np.diag(1 / w)
        return stats.multivariate_normal(X @ np.array([250.0, 0.0]), V).logpdf(bd.y)

    def ours(sd, rho, sigma):
        L = np.linalg.cholesky(np.array([[1, rho], [rho, 1]]))
        p = {
            "sd_0": jnp.asarray(sd),
            "L_0": jnp.asarray(L),
            "sigma": jnp.asarray(sigma),
            "beta_s": jnp.zeros(0),
        }
        full = float(log_marginal(bd, info, p))
        # the blocked factorisation (level by level, then the Schur complement)
        assert float(log_marginal_blocked(bd, info, p)) == pytest.approx(full, rel=1e-12)
        return full

    a, b = ([24.0, 6.0], 0.1, 25.0), ([10.0, 9.0], -0.5, 31.0)
    assert ours(*a) - ours(*b) == pytest.approx(dense(*a) - dense(*b), rel=1e-9)


def test_binomial_prior_predictive_counts(cbpp):
    """Prior predictive draws of a binomial model are counts within the trials (the
    sampler once failed on float trials)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = brm(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)",
            cbpp,
            family="binomial",
            priors=["prior(normal(0, 1), class = b)", "prior(normal(-1, 1), class = Intercept)"],
            sample_prior="only",
            chains=1,
            draws=200,
            seed=4,
            progress=False,
        )
    y = pp.idata.prior_predictive["y"].to_numpy().reshape(200, -1)
    assert np.all(y >= 0) and np.all(y <= cbpp["size"].to_numpy()[None, :])
    assert np.all(y == np.round(y))
