"""Tests of the finite-difference schemes (:mod:`mixedmodels.numerics.derivatives`)."""

from __future__ import annotations

import numpy as np

from mixedmodels import extending, interfaces

# Private: this file tests the numerics layer itself.
from mixedmodels.numerics import derivatives

A = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, 0.2], [0.5, 0.2, 1.5]])


def _quadratic(x: np.ndarray) -> float:
    return float(0.5 * x @ A @ x + x.sum())


def test_one_implementation_behind_the_public_names() -> None:
    assert extending.finite_difference_derivatives is derivatives.finite_difference_derivatives
    assert derivatives.matrix_jacobian is interfaces.matrix_jacobian


def test_central_hessian_of_a_quadratic_inside_bounds() -> None:
    x = np.array([0.5, 0.01, 2.0])
    lower = np.array([0.0, 0.0, -np.inf])
    upper = np.full(3, np.inf)
    H = derivatives.central_hessian(_quadratic, x, lower, upper, np.ones(3, dtype=bool))
    np.testing.assert_allclose(H, A, rtol=1e-4)
    free = np.array([True, False, True])
    H = derivatives.central_hessian(_quadratic, x, lower, upper, free)
    assert np.all(H[1] == 0.0) and np.all(H[:, 1] == 0.0)
    np.testing.assert_allclose(H[np.ix_(free, free)], A[np.ix_(free, free)], rtol=1e-4)


def test_central_gradient_one_sided_where_not_finite() -> None:
    def fun(x: np.ndarray) -> float:
        return _quadratic(x) if x[0] >= 0.0 else np.inf

    x = np.array([0.0, 0.3, -1.0])
    g = derivatives.central_gradient(fun, x)
    exact = A @ x + 1.0
    np.testing.assert_allclose(g[1:], exact[1:], rtol=1e-8)
    np.testing.assert_allclose(g[0], exact[0], rtol=1e-4)
