"""The dense criterion's analytic Hessian against differences of its exact gradient."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.linear import fit as lmm_fit
from mixedmodels.linear.dense import DenseLMMProblem
from mixedmodels.model import Model
from mixedmodels.numerics.derivatives import gradient_differences

CASES = [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "sleepstudy"),
    ("Yield ~ 1 + (1 | Batch)", "Dyestuff"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    # homdiag: its factor theta * I is linear in theta too (gamm4's smooths)
    ("Reaction ~ Days + homdiag(1 + Days | Subject)", "sleepstudy"),
]


def _dense(formula: str, name: str, weights: bool = False) -> DenseLMMProblem:
    data = mm.datasets.load(name)
    if weights:
        data = data.assign(w=np.linspace(0.5, 2.0, len(data)))
    model = Model(formula, data, weights="w" if weights else None)
    problem = lmm_fit.build_problem(model)
    assert isinstance(problem, DenseLMMProblem)
    return problem


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("formula", "name"), CASES)
def test_hessian_matches_gradient_differences(formula: str, name: str, reml: bool) -> None:
    problem = _dense(formula, name, weights=name == "sleepstudy")
    lower, upper = problem.bounds()
    rng = np.random.default_rng(7)
    theta = problem.start() * rng.uniform(0.3, 1.2, problem.n_theta)
    out = problem.hessian(theta, reml)
    assert out is not None
    value, grad, hess = out
    assert value == pytest.approx(problem.objective(theta, reml), rel=1e-14)
    np.testing.assert_allclose(grad, problem.gradient(theta, reml)[1], rtol=1e-9, atol=1e-9)
    differences = gradient_differences(
        lambda z: problem.gradient(z, reml)[1], theta, lower, upper, step=1e-5
    )
    assert differences is not None
    scale = np.max(np.abs(differences[1]))
    np.testing.assert_allclose(hess, differences[1], rtol=0, atol=1e-6 * scale)


def test_hessian_unavailable_next_to_a_bound() -> None:
    problem = _dense("Yield ~ 1 + (1 | Batch)", "Dyestuff")
    assert problem.hessian(np.array([0.0]), True) is None
    assert problem.hessian(np.array([0.5]), True) is not None


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("formula", "name"), CASES)
def test_newton_reaches_the_lbfgsb_optimum(formula: str, name: str, reml: bool) -> None:
    data = mm.datasets.load(name)
    newton = mm.lmm(formula, data, reml=reml)
    lbfgsb = mm.lmm(formula, data, reml=reml, optimizer="lbfgsb")
    assert newton.optimizer.method == "newton"
    assert lbfgsb.optimizer.method == "lbfgsb"
    assert newton.converged
    crit = "reml_criterion" if reml else "deviance"
    # Newton converges to the rounding noise: never above L-BFGS-B's optimum.
    assert getattr(newton, crit) <= getattr(lbfgsb, crit) + 1e-9
    np.testing.assert_allclose(newton.theta, lbfgsb.theta, rtol=1e-5, atol=1e-6)


def test_singular_fits_keep_their_path() -> None:
    # The Hessian is unavailable next to a bound: the fit falls back to L-BFGS-B.
    data = mm.datasets.load("Dyestuff2")
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", data)
    assert fit.singular and fit.optimizer.method == "lbfgsb"


def test_with_cross_products_is_a_fresh_problem() -> None:
    # residual structures swap only C between whitened problems (same layout)
    data = mm.datasets.load("sleepstudy")
    a = lmm_fit.build_problem(Model("Reaction ~ Days + (Days | Subject)", data))
    other = data.assign(Reaction=data["Reaction"] * 0.5 + 7.0 * data["Days"] ** 1.5)
    b = lmm_fit.build_problem(Model("Reaction ~ Days + (Days | Subject)", other))
    assert isinstance(a, DenseLMMProblem) and isinstance(b, DenseLMMProblem)
    theta = np.array([0.9, 0.1, 0.3])
    a.hessian(theta, True)  # fills a's caches, which must not leak into the copy
    swapped = a.with_cross_products(b.C)
    for reml in (True, False):
        assert swapped.objective(theta, reml) == b.objective(theta, reml)
        ours, theirs = swapped.hessian(theta, reml), b.hessian(theta, reml)
        assert ours is not None and theirs is not None
        for x, y in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(x, y)
    assert a.objective(theta, True) != b.objective(theta, True)
    with pytest.raises(ValueError, match="cross-products of shape"):
        a.with_cross_products(b.C[:-1, :-1])


@pytest.mark.parametrize("seed", [1, 2])
def test_small_fit_does_not_depend_on_the_order_of_the_rows(seed: int) -> None:
    """Pastes by ML, rows reordered (sums rounded otherwise, as over a Dask frame's
    partitions): theta and the vcov to 1e-10 (decision 0037).  The Newton finish
    stopped where the values no longer resolved a decrease, 5.4e-8 apart in theta."""
    df = mm.datasets.load("Pastes")
    formula = "strength ~ 1 + (1 | batch/cask)"
    want = mm.lmm(formula, df, reml=False)
    got = mm.lmm(formula, df.iloc[np.random.default_rng(seed).permutation(len(df))], reml=False)
    np.testing.assert_allclose(got.theta, want.theta, rtol=1e-10)
    scale = float(np.max(np.abs(want.vcov.to_numpy())))
    np.testing.assert_allclose(
        got.vcov.to_numpy(), want.vcov.to_numpy(), rtol=0, atol=1e-10 * scale
    )
