"""The independence Metropolis-Hastings sampler of the collapsed posterior
(``sampler="collapsed_imh"``): its target is the NUTS collapsed sampler's, its dense and
blocked sparse factorisations agree, and its draws match brms's reference posterior.

It needs no compilation and one evaluation of the marginal per draw, so the reference
check runs here with 4 x 10,000 draws (a few CPU seconds), not only in the slow session.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from bayes_refcheck import compare, load_case
from mixedmodels_bayes._estimator import _options
from mixedmodels_bayes._imh import CollapsedTarget

import mixedmodels as mm

SLEEP = "Reaction ~ Days + (Days | Subject)"


def _setup(model, priors=None):
    _, bd, ps, _ = _options(model, {"priors": priors, "sampler": "collapsed_imh"})
    return bd, ps


@pytest.fixture(scope="module")
def crossed():
    """Three crossed terms, the first with a correlated slope (the blocked path's
    Schur complement then holds two terms, one correlated, and a fixed effect)."""
    rng = np.random.default_rng(5)
    n = 240
    frame = pd.DataFrame(
        {
            "a": rng.integers(0, 12, n).astype(str),
            "b": rng.integers(0, 7, n).astype(str),
            "c": rng.integers(0, 5, n).astype(str),
            "x": rng.standard_normal(n),
        }
    )
    frame["y"] = 1.0 + 0.5 * frame["x"] + rng.standard_normal(n)
    return {
        "crossed": mm.Model("y ~ x + (x | a) + (1 | b) + (x | c)", frame),
        # every term scalar: the precomputed pair map of the Schur complement
        "scalar": mm.Model("y ~ x + (1 | a) + (1 | b) + (1 | c)", frame),
    }


def _potential_differences(bd, ps, phis, target):
    """NumPyro's log density of the collapsed NUTS model at the same unconstrained
    points (minus its value at the first)."""
    import jax.numpy as jnp
    from mixedmodels_bayes._collapsed import collapsed_model, info_arrays
    from numpyro.infer.util import potential_energy

    model, info = collapsed_model(bd, ps)
    vals = []
    for phi in phis:
        params = {"sigma": jnp.asarray(phi[target.slices["sigma"]][0])}
        for k, t in enumerate(bd.terms):
            params[f"sd_{k}"] = jnp.asarray(phi[target.slices[f"sd_{k}"]])
            if t.correlated:
                params[f"L_{k}"] = jnp.asarray(phi[target.slices[f"cor_{k}"]])
        if len(target.si):
            params["beta_s"] = jnp.asarray(phi[target.slices["beta_s"]])
        vals.append(-float(potential_energy(model, (), {"arrays": info_arrays(info)}, params)))
    vals = np.array(vals)
    return vals - vals[0]


@pytest.mark.parametrize("which", ["sleep-default", "sleep-case", "crossed", "scalar"])
def test_target_is_the_nuts_collapsed_posterior(which, sleepstudy, crossed):
    if which in crossed:
        bd, ps = _setup(crossed[which])
    else:
        priors = load_case("brms_sleepstudy_gaussian_ranslope")["priors_brms"]
        bd, ps = _setup(mm.Model(SLEEP, sleepstudy), priors if which == "sleep-case" else None)
    dense = CollapsedTarget(bd, ps, dense=True)
    sparse = CollapsedTarget(bd, ps, dense=False)
    rng = np.random.default_rng(1)
    phis = dense.start() + 0.3 * rng.standard_normal((4, dense.size))
    ours = dense.log_posterior(phis)
    np.testing.assert_allclose(sparse.log_posterior(phis), ours, rtol=1e-12, atol=1e-8)
    ref = _potential_differences(bd, ps, phis, dense)
    np.testing.assert_allclose(ours - ours[0], ref, rtol=1e-10, atol=1e-8)


class _FixedNormals:
    """Stands in for a generator: the same standard normals, laid out as the dense
    draw reads them, whichever path asks."""

    def __init__(self, z, q0):
        self.z, self.q0 = z, q0

    def standard_normal(self, shape):
        if shape == self.z.shape:
            return self.z
        if len(shape) == 2:  # the first term's levels (sparse path)
            return self.z[0, : self.q0].reshape(shape)
        return self.z[0, self.q0 :]


@pytest.mark.parametrize("which", ["sleep", "crossed", "scalar"])
def test_conditional_draws_dense_and_blocked_agree(which, sleepstudy, crossed):
    model = crossed[which] if which in crossed else mm.Model(SLEEP, sleepstudy)
    bd, ps = _setup(model)
    dense = CollapsedTarget(bd, ps, dense=True)
    sparse = CollapsedTarget(bd, ps, dense=False)
    phi = dense.start()[None] + 0.1
    _, _, sd = dense.evaluate(phi)
    _, _, ss = sparse.evaluate(phi)
    z = np.random.default_rng(2).standard_normal((1, dense.m))
    q0 = bd.terms[0].n_levels * bd.terms[0].dim
    a = dense.draw(sd, _FixedNormals(z, q0))
    b = sparse.draw(ss, _FixedNormals(z, q0))
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9)


def test_matches_brms_reference(sleepstudy):
    case = load_case("brms_sleepstudy_gaussian_ranslope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fit = mm.Model(SLEEP, sleepstudy).fit(
            method="nuts",
            priors=case["priors_brms"],
            chains=4,
            draws=10_000,
            warmup=1000,
            seed=20240701,
            sampler="collapsed_imh",
            progress=False,
        )
    assert fit.sampler == "collapsed_imh"
    failures = compare(fit, case)
    assert not failures, "\n".join(failures)
    assert fit.sample_stats["acceptance_rate"].mean() > 0.5
    info = fit.sampler_info
    assert info["evaluations"] >= 4 * 11_000 and info["mean_acceptance"] > 0.5
    assert "independence Metropolis-Hastings" in str(fit.summary())


def test_same_seed_same_draws(sleepstudy):
    fits = [
        mm.Model(SLEEP, sleepstudy).fit(
            method="nuts",
            sampler="collapsed_imh",
            draws=200,
            warmup=100,
            seed=3,
            progress=False,
            warn=False,
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].draws["r_0"], fits[1].draws["r_0"])
    assert fits[0].draws["sigma"].shape == (4, 200)


def test_needs_a_gaussian_lmm_or_one_scalar_term(cbpp, sleepstudy):
    m = mm.Model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"
    )
    with pytest.raises(ValueError, match="Gaussian model with the identity link"):
        _options(m, {"sampler": "collapsed"})
    _options(m, {"sampler": "collapsed_imh"})  # one scalar term: by quadrature
    two = mm.Model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | period)",
        cbpp,
        family="binomial",
    )
    with pytest.raises(ValueError, match="one random-effect term with one column"):
        _options(two, {"sampler": "collapsed_imh"})
    with pytest.raises(ValueError, match="at least one random-effect term"):
        _options(mm.Model("Reaction ~ Days", sleepstudy), {"sampler": "collapsed_imh"})


def test_pool_threads_run_a_single_threaded_blas(sleepstudy, monkeypatch):
    # Threads of the pool each factorising with a multi-threaded BLAS oversubscribed
    # the cores (InstEval: 135 CPU s instead of 85); inside the run BLAS has one thread,
    # and the caller's setting is back afterwards.
    from mixedmodels_bayes import _imh
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    seen = []
    original = _imh.CollapsedTarget._sparse_one

    def recording(self, theta, i):
        seen.append(blas_threads())
        return original(self, theta, i)

    monkeypatch.setattr(_imh.CollapsedTarget, "_sparse_one", recording)
    bd, ps = _setup(mm.Model(SLEEP, sleepstudy))
    with threadpool_limits(2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip("this BLAS cannot run two threads")
        _imh.run_imh(bd, ps, 2, 20, 10, 1, settings=_imh.IMHSettings(threads=2), dense=False)
        after = blas_threads()
    assert seen and all(s == {1} for s in seen)
    assert after == {2}


@pytest.mark.parametrize("which", ["sleep", "scalar", "crossed"])
def test_extreme_proposals_have_zero_density_not_an_error(which, sleepstudy, crossed):
    # A line search of the mode finder stepped to a sigma so small that the system was
    # not numerically positive definite: numpy raised LinAlgError out of the sampler
    # (the binomial/Gaussian SBC run died on it).  Such a point has zero density.
    model = mm.Model(SLEEP, sleepstudy) if which == "sleep" else crossed[which]
    bd, ps = _setup(model)
    for dense in (True, False):
        target = CollapsedTarget(bd, ps, dense=dense)
        phis = np.tile(target.start(), (3, 1))
        phis[1, target.slices["sigma"]] = -400.0  # sigma^2 underflows to 0
        phis[2, target.slices["sd_0"]] = 400.0  # an SD that overflows
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning leaks either
            lp, _, _ = target.evaluate(phis)
        assert np.isfinite(lp[0]) and np.all(lp[1:] == -np.inf)


def test_cholesky_from_upper_reads_only_the_upper_triangle():
    from mixedmodels_bayes._lapack import cholesky_from_upper

    rng = np.random.default_rng(8)
    A = rng.standard_normal((60, 60))
    A = A @ A.T + 60 * np.eye(60)
    S = np.triu(A) + np.tril(np.full((60, 60), np.nan), -1)  # lower triangle never read
    L = cholesky_from_upper(S)
    np.testing.assert_allclose(np.tril(L), np.linalg.cholesky(A), rtol=1e-12, atol=1e-12)
    bad = -np.eye(3)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        cholesky_from_upper(bad.copy())
    with pytest.raises(ValueError, match="C-contiguous"):
        cholesky_from_upper(np.asfortranarray(A[:5, :4]))
