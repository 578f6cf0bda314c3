"""The analytic gradient of the response NNGP's profiled deviance against central
finite differences (every correlation family, ML and REML), and the fit it drives."""

from __future__ import annotations

import numpy as np
import pytest
from mixedmodels_spatial import spatial_lmm
from mixedmodels_spatial._fit import _nngp_deviance_gradient, _Problem
from mixedmodels_spatial._kernel import make_kernel
from mixedmodels_spatial._vecchia import plan
from spatial_helpers import simulate

CASES = [
    ("exponential", None, [np.log(0.1), -0.5]),
    ("matern", None, [np.log(0.1), 0.3, -0.5]),
    ("matern", 1.5, [np.log(0.1), -0.5]),
    ("matern", 0.8, [np.log(0.1), -0.5]),
    ("gaussian", None, [np.log(0.1), -0.5]),
    ("spherical", None, [np.log(0.4), -0.5]),
    ("ratio", None, [np.log(0.1), -0.5]),
]


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize(("family", "nu", "params"), CASES)
def test_gradient_matches_finite_differences(family, nu, params, reml):
    rng = np.random.default_rng(3)
    n = 300
    xy = rng.uniform(0, 1, (n, 2))
    cols = np.column_stack([rng.normal(size=n), np.ones(n), rng.normal(size=n)])
    kernel = make_kernel(family, xy, nugget=True, nu=nu)
    vp = plan(xy, 8)
    problem = _Problem(kernel, vp.coords, cols[vp.order], reml, vp)
    p = np.asarray(params)
    dev, grad = _nngp_deviance_gradient(problem, p)
    assert dev == pytest.approx(problem.deviance(p), rel=1e-12)
    fd = np.empty(p.size)
    for i in range(p.size):
        h = 1e-5
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (problem.deviance(up) - problem.deviance(down)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("exponential", [np.log(0.1), -0.5, 0.4, np.log(2.0)]),
        ("matern", [np.log(0.1), 0.3, -0.5, -0.7, np.log(0.6)]),
    ],
)
def test_gradient_with_anisotropy_matches_finite_differences(family, params):
    rng = np.random.default_rng(5)
    n = 300
    xy = rng.uniform(0, 1, (n, 2))
    cols = np.column_stack([rng.normal(size=n), np.ones(n), rng.normal(size=n)])
    kernel = make_kernel(family, xy, nugget=True, anisotropy=True)
    vp = plan(xy, 8)
    problem = _Problem(kernel, vp.coords, cols[vp.order], False, vp)
    p = np.asarray(params)
    dev, grad = _nngp_deviance_gradient(problem, p)
    assert dev == pytest.approx(problem.deviance(p), rel=1e-12)
    fd = np.empty(p.size)
    for i in range(p.size):
        h = 1e-5
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (problem.deviance(up) - problem.deviance(down)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)


def test_anisotropic_fit_with_the_gradient_equals_the_finite_difference_fit():
    d = simulate(400, 22)
    kw = {"m": 10, "anisotropy": True}
    with_grad = spatial_lmm("z ~ x1", d, ["sx", "sy"], **kw)
    without = spatial_lmm("z ~ x1", d, ["sx", "sy"], gradient=False, **kw)
    assert with_grad.loglik >= without.loglik - 1e-6
    assert with_grad.loglik == pytest.approx(without.loglik, rel=1e-6)


def test_fit_with_the_gradient_equals_the_finite_difference_fit():
    d = simulate(600, 21)
    with_grad = spatial_lmm("z ~ x1", d, ["sx", "sy"], m=10)
    without = spatial_lmm("z ~ x1", d, ["sx", "sy"], m=10, gradient=False)
    assert with_grad.converged
    assert with_grad.loglik >= without.loglik - 1e-7
    np.testing.assert_allclose(with_grad.params, without.params, rtol=1e-3, atol=1e-4)
