"""Latent NNGP (the field has the NNGP prior, the nugget is exact): exact likelihood and
exact kriging when every earlier location is a neighbour; repeated locations share one
field value."""

from __future__ import annotations

import numpy as np
import pytest
from mixedmodels_spatial import spatial_lmm
from mixedmodels_spatial._batched import backward_solve, cholesky
from mixedmodels_spatial._fit import _LatentProblem, _Problem
from mixedmodels_spatial._kernel import make_kernel
from mixedmodels_spatial._latent import latent_plan, neighbour_weights, precision
from spatial_helpers import simulate


@pytest.fixture(scope="module")
def data():
    d = simulate(90, 11).reset_index(drop=True)
    # Two repeated locations: one field value, two nuggets.
    d.loc[[7, 31], ["sx", "sy"]] = d.loc[3, ["sx", "sy"]].to_numpy()
    return d


def test_backward_solve_matches_numpy():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(30, 5, 5))
    A = A @ A.transpose(0, 2, 1) + 5 * np.eye(5)
    L = cholesky(np.ascontiguousarray(A.transpose(1, 2, 0)))
    B = rng.normal(size=(5, 2, 30))
    X = backward_solve(L, B)
    want = np.linalg.solve(np.linalg.cholesky(A).transpose(0, 2, 1), B.transpose(2, 0, 1))
    np.testing.assert_allclose(X.transpose(2, 0, 1), want, atol=1e-12)


def test_precision_is_the_exact_inverse_at_m_u_minus_1(data):
    xy = data[["sx", "sy"]].to_numpy()
    lp = latent_plan(xy, 86)  # 88 distinct locations
    k = make_kernel("exponential", xy, nugget=True)
    params = np.array([np.log(0.2), 0.0])
    B, F = neighbour_weights(k, params, lp.vp)
    Q = precision(lp.vp, B, F).toarray()
    d = k.distance(lp.vp.coords, lp.vp.coords, params)
    R = k.from_distances(np.array([np.log(0.2), -50.0]), d)  # no nugget
    np.testing.assert_allclose(Q @ R, np.eye(lp.u), atol=1e-6)  # R: condition ~1e4


@pytest.mark.parametrize("reml", [False, True])
def test_latent_deviance_is_exact_at_m_u_minus_1(data, reml):
    xy = data[["sx", "sy"]].to_numpy()
    cols = np.column_stack([data["z"], np.ones(len(data)), data["x1"]])
    kernel = make_kernel("exponential", xy, nugget=True)
    lp = latent_plan(xy, 87)
    latent = _LatentProblem(kernel, xy, cols, reml, lp.vp, lp=lp)
    exact = _Problem(kernel, xy, cols, reml, None)
    for params in ([np.log(0.2), -1.0], [np.log(0.05), 0.5], [np.log(1.0), -3.0]):
        p = np.asarray(params)
        assert latent.deviance(p) == pytest.approx(exact.deviance(p), rel=1e-8)
    # With fewer neighbours it is an approximation, not the exact value.
    small = _LatentProblem(kernel, xy, cols, reml, latent_plan(xy, 3).vp, lp=latent_plan(xy, 3))
    assert small.deviance(np.array([np.log(0.2), -1.0])) != pytest.approx(
        exact.deviance(np.array([np.log(0.2), -1.0])), rel=1e-8
    )


def test_latent_fit_and_kriging_match_exact(data):
    exact = spatial_lmm("z ~ x1", data, ["sx", "sy"], method="exact")
    latent = spatial_lmm("z ~ x1", data, ["sx", "sy"], method="latent", m=87)
    assert latent.loglik == pytest.approx(exact.loglik, rel=1e-8)
    np.testing.assert_allclose(latent.params, exact.params, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(latent.fixef, exact.fixef, rtol=1e-4)
    new = simulate(12, 12)
    new.loc[0, ["sx", "sy"]] = data.loc[3, ["sx", "sy"]].to_numpy()  # on a fitted location
    got = latent.predict(new, m=88)  # every location: exact kriging
    want = exact.predict(new)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-5, atol=1e-6)
    near = latent.predict(new, m=10)
    assert np.all(np.isfinite(near.to_numpy()))
    np.testing.assert_allclose(near["fit"], got["fit"], atol=0.1)


def test_latent_bad_input(data):
    with pytest.raises(ValueError, match="needs a nugget"):
        spatial_lmm("z ~ x1", data, ["sx", "sy"], method="latent", nugget=False)
    with pytest.raises(ValueError, match=r"u - 1 = 87"):
        spatial_lmm("z ~ x1", data, ["sx", "sy"], method="latent", m=88)
