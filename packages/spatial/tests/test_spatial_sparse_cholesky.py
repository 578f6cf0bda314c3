"""The sparse Cholesky of the latent NNGP and the spatial GLMM: CHOLMOD (cvxopt) and
SuperLU give the same log-determinant and solves; the ordering and symbolic analysis
are done once per pattern and reused."""

from __future__ import annotations

import numpy as np
import pytest
from mixedmodels_spatial._fit import _LatentProblem
from mixedmodels_spatial._kernel import make_kernel
from mixedmodels_spatial._latent import latent_plan, neighbour_weights, precision
from mixedmodels_spatial._sparse_cholesky import SparseCholesky, cholmod_available
from scipy import sparse
from spatial_helpers import simulate

BACKENDS = [
    "superlu",
    pytest.param(
        "cholmod",
        marks=pytest.mark.skipif(
            not cholmod_available(), reason="cvxopt (the 'cholmod' extra) is not installed"
        ),
    ),
]


def _matrices(n=300, m=8):
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 1, (n, 2))
    k = make_kernel("exponential", xy)
    lp = latent_plan(xy, m)
    out = []
    for r, s in ((0.1, 0.5), (0.3, 2.0), (0.05, 1.0)):
        B, F = neighbour_weights(k, np.array([np.log(r)]), lp.vp)
        Q = precision(lp.vp, B, F)
        out.append((Q / s + sparse.diags(rng.uniform(0.5, 2.0, lp.u))).tocsc())
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_logdet_and_solve_equal_dense(backend):
    chol = SparseCholesky(backend)
    rng = np.random.default_rng(0)
    for M in _matrices():
        chol.factor(M)
        dense = M.toarray()
        assert chol.logdet == pytest.approx(np.linalg.slogdet(dense)[1], rel=1e-12)
        b = rng.normal(size=(M.shape[0], 3))
        np.testing.assert_allclose(chol.solve(b), np.linalg.solve(dense, b), rtol=1e-9)
        np.testing.assert_allclose(chol.solve(b[:, 0]), np.linalg.solve(dense, b[:, 0]), rtol=1e-9)
    assert chol.n_symbolic == 1  # the pattern's analysis was reused


@pytest.mark.parametrize("backend", BACKENDS)
def test_not_positive_definite_is_an_error(backend):
    M = _matrices()[0]
    chol = SparseCholesky(backend)
    with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
        chol.factor(M - sparse.eye(M.shape[0]) * 50.0)


def test_bad_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        SparseCholesky("umfpack")


@pytest.mark.skipif(not cholmod_available(), reason="cvxopt is not installed")
def test_latent_deviance_same_with_both_backends():
    d = simulate(400, 5)
    xy = d[["sx", "sy"]].to_numpy()
    cols = np.column_stack([d["z"], np.ones(len(d)), d["x1"]])
    kernel = make_kernel("exponential", xy, nugget=True)
    values = {}
    for backend in ("superlu", "cholmod"):
        lp = latent_plan(xy, 10, backend=backend)
        prob = _LatentProblem(kernel, xy, cols, False, lp.vp, lp=lp)
        values[backend] = [prob.deviance(np.array(p)) for p in ([np.log(0.2), -1.0], [-3.0, 0.5])]
    np.testing.assert_allclose(values["superlu"], values["cholmod"], rtol=1e-11)


def test_lower_precision_is_the_precisions_lower_triangle():
    from mixedmodels_spatial._latent import precision_lower

    rng = np.random.default_rng(8)
    xy = rng.uniform(0, 1, (250, 2))
    lp = latent_plan(xy, 7)
    B, F = neighbour_weights(make_kernel("exponential", xy), np.array([np.log(0.2)]), lp.vp)
    extra = rng.uniform(0.5, 2.0, lp.u)
    got = precision_lower(lp.vp, B, F, 0.7, extra).toarray()
    want = np.tril((precision(lp.vp, B, F) * 0.7 + sparse.diags(extra)).toarray())
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
