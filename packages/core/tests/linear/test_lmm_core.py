"""The blocked criterion against a plain dense computation on random problems.

The dense reference builds ``Z``, ``Lambda`` and the penalised least-squares system
explicitly (Bates et al. 2015, eqs. 16-34); the blocked implementation must agree to
rounding error for any mix of scalar and vector terms, weights and parameter values.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st

from mixedmodels.covariance import Diagonal, Unstructured

# Private: this file tests the LMM criteria (blocked, dense) against a textbook one.
from mixedmodels.linear import criterion as _lmm
from mixedmodels.linear.criterion import LMMProblem, TermData
from mixedmodels.linear.dense import DenseLMMProblem


def random_problem(seed: int, dims: list[int], levels: list[int], weighted: bool, n: int = 60):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    y = rng.standard_normal(n) * 2 + 1
    terms = []
    for k, (dim, nl) in enumerate(zip(dims, levels, strict=True)):
        codes = np.concatenate([np.arange(nl), rng.integers(0, nl, n - nl)])
        rng.shuffle(codes)
        Z = np.column_stack([np.ones(n)] + [rng.standard_normal(n) for _ in range(dim - 1)])
        structure = Unstructured(dim) if k % 2 == 0 else Diagonal(dim)
        terms.append(TermData(codes.astype(np.int64), nl, Z, structure))
    terms.sort(key=lambda t: -t.n_levels)
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    theta = np.concatenate(
        [
            np.where(
                t.structure.bounds()[0] == 0,
                rng.uniform(0.1, 2.0, t.structure.n_params),
                rng.uniform(-1, 1, t.structure.n_params),
            )
            for t in terms
        ]
    )
    return X, y, terms, weights, theta


def dense_reference(X, y, terms, weights, theta, reml):
    n, p = X.shape
    sw = np.ones(n) if weights is None else np.sqrt(weights)
    Zs, lams = [], []
    idx = 0
    for t in terms:
        k = t.structure.n_params
        lam = t.structure.factor(theta[idx : idx + k])
        idx += k
        Zt = np.zeros((n, t.q))
        for j in range(t.dim):
            Zt[np.arange(n), t.codes * t.dim + j] = t.Z[:, j]
        Zs.append(Zt)
        lams.append(np.kron(np.eye(t.n_levels), lam))
    Z = np.hstack(Zs) * sw[:, None]
    Lam = sla.block_diag(*lams)
    Xw, yw = X * sw[:, None], y * sw
    ZL = Z @ Lam
    q = ZL.shape[1]
    # Augmented penalised least squares in (u, beta).
    M = np.block([[ZL.T @ ZL + np.eye(q), ZL.T @ Xw], [Xw.T @ ZL, Xw.T @ Xw]])
    rhs = np.concatenate([ZL.T @ yw, Xw.T @ yw])
    sol = np.linalg.solve(M, rhs)
    u, beta = sol[:q], sol[q:]
    pwrss = np.sum((yw - ZL @ u - Xw @ beta) ** 2) + u @ u
    ld_L = np.linalg.slogdet(ZL.T @ ZL + np.eye(q))[1]
    ld_RX = np.linalg.slogdet(M)[1] - ld_L
    lw = 0.0 if weights is None else np.sum(np.log(weights))
    if reml:
        obj = ld_L + ld_RX + (n - p) * (1 + np.log(2 * np.pi * pwrss / (n - p))) - lw
    else:
        obj = ld_L + n * (1 + np.log(2 * np.pi * pwrss / n)) - lw
    condvar = Lam @ np.linalg.inv(ZL.T @ ZL + np.eye(q)) @ Lam.T
    b = Lam @ u
    return obj, beta, b, condvar, np.linalg.inv(M)[q:, q:]


shapes = st.lists(st.tuples(st.integers(1, 3), st.integers(2, 9)), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), shape=shapes, weighted=st.booleans(), reml=st.booleans())
def test_blocked_equals_dense(seed, shape, weighted, reml):
    dims = [d for d, _ in shape]
    levels = [nl for _, nl in shape]
    X, y, terms, weights, theta = random_problem(seed, dims, levels, weighted)
    obj, beta, b, condvar, vcov = dense_reference(X, y, terms, weights, theta, reml)
    # Both ways of building V: dense outer products (small) and the sparse product.
    with mock.patch.object(_lmm, "_SMALL_DENSE_ENTRIES", 0):
        sparse_built = LMMProblem(X, y, terms, weights)
        ev_sparse = sparse_built.evaluate(theta, reml)
        assert ev_sparse is not None
        assert ev_sparse.objective == pytest.approx(obj, rel=1e-10)
        _, grad = sparse_built.gradient(theta, reml)
    problem = LMMProblem(X, y, terms, weights)
    ev = problem.evaluate(theta, reml)
    assert ev is not None
    _, grad_dense = problem.gradient(theta, reml)
    np.testing.assert_allclose(grad, grad_dense, rtol=1e-8, atol=1e-8)
    assert ev.objective == pytest.approx(obj, rel=1e-10)
    got_beta, us, _ = problem.solve(ev)
    np.testing.assert_allclose(got_beta, beta, rtol=1e-8, atol=1e-10)
    got_b = np.concatenate([(u @ lam.T).ravel() for u, lam in zip(us, ev.lambdas, strict=True)])
    np.testing.assert_allclose(got_b, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(problem.vcov_unscaled(ev), vcov, rtol=1e-8, atol=1e-12)
    blocks = problem.conditional_variances(ev)
    offset = 0
    for t, blk in zip(terms, blocks, strict=True):
        for j in range(t.n_levels):
            sl = slice(offset + j * t.dim, offset + (j + 1) * t.dim)
            np.testing.assert_allclose(blk[j], condvar[sl, sl], rtol=1e-7, atol=1e-10)
        offset += t.q


def test_boundary_theta_is_finite():
    X, y, terms, weights, theta = random_problem(3, [1, 2], [8, 5], False)
    theta[:] = np.where(np.concatenate([t.structure.bounds()[0] for t in terms]) == 0, 0.0, 0.3)
    problem = LMMProblem(X, y, terms, weights)
    ev = problem.evaluate(theta, True)
    assert ev is not None and np.isfinite(ev.objective)
    obj, *_ = dense_reference(X, y, terms, weights, theta, True)
    assert ev.objective == pytest.approx(obj, rel=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), shape=shapes, weighted=st.booleans(), reml=st.booleans())
def test_analytic_gradient_matches_finite_differences(seed, shape, weighted, reml):
    dims = [d for d, _ in shape]
    levels = [nl for _, nl in shape]
    X, y, terms, weights, theta = random_problem(seed, dims, levels, weighted)
    problem = LMMProblem(X, y, terms, weights)
    value, grad = problem.gradient(theta, reml)
    assert value == pytest.approx(problem.objective(theta, reml), rel=1e-12)
    assert grad is not None
    h = 1e-6
    fd = np.array(
        [
            (problem.objective(theta + h * e, reml) - problem.objective(theta - h * e, reml))
            / (2 * h)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), shape=shapes, weighted=st.booleans(), reml=st.booleans())
def test_dense_problem_equals_the_dense_reference(seed, shape, weighted, reml):
    dims = [d for d, _ in shape]
    levels = [nl for _, nl in shape]
    X, y, terms, weights, theta = random_problem(seed, dims, levels, weighted)
    obj, beta, b, condvar, vcov = dense_reference(X, y, terms, weights, theta, reml)
    problem = DenseLMMProblem(X, y, terms, weights)
    ev = problem.evaluate(theta, reml)
    assert ev is not None
    assert ev.objective == pytest.approx(obj, rel=1e-10)
    assert problem.objective(theta, reml) == pytest.approx(obj, rel=1e-10)
    got_beta, us, _ = problem.solve(ev)
    np.testing.assert_allclose(got_beta, beta, rtol=1e-8, atol=1e-10)
    got_b = np.concatenate([(u @ lam.T).ravel() for u, lam in zip(us, ev.lambdas, strict=True)])
    np.testing.assert_allclose(got_b, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(problem.vcov_unscaled(ev), vcov, rtol=1e-8, atol=1e-12)
    offset = 0
    for t, blk in zip(terms, problem.conditional_variances(ev), strict=True):
        for j in range(t.n_levels):
            sl = slice(offset + j * t.dim, offset + (j + 1) * t.dim)
            np.testing.assert_allclose(blk[j], condvar[sl, sl], rtol=1e-7, atol=1e-10)
        offset += t.q
    _, grad = problem.gradient(theta, reml)
    _, grad_blocked = LMMProblem(X, y, terms, weights).gradient(theta, reml)
    np.testing.assert_allclose(grad, grad_blocked, rtol=1e-7, atol=1e-7)


def test_dense_cache_follows_theta_values_not_the_array():
    # The optimiser overwrites its x in place: a repeat must be recognised by value,
    # and a changed value must not return the previous evaluation or gradient.
    X, y, terms, weights, theta = random_problem(3, [2], [6], weighted=True)
    problem = DenseLMMProblem(X, y, terms, weights)
    fresh = DenseLMMProblem(X, y, terms, weights)
    x = theta.copy()
    first = problem.evaluate(x, True)
    assert problem.evaluate(x.copy(), True) is first
    v1, g1 = problem.gradient(x, True)
    g1[:] = 0.0  # the caller's copy: must not reach the cache
    assert np.all(problem.gradient(x, True)[1] == fresh.gradient(x, True)[1])
    x *= 1.5
    assert problem.evaluate(x, True).objective == fresh.evaluate(x, True).objective
    assert problem.objective(x, False) == fresh.objective(x, False)
    assert problem.gradient(x, True)[0] == fresh.gradient(x, True)[0] != v1
    assert first.theta[0] == theta[0]  # the evaluation kept its own theta
