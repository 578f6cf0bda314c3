"""The spatial GLMM's analytic gradient (selected inverse of the Laplace Hessian,
implicit-function derivative of the field's mode, derivatives of each location's
neighbour system) equals differences of the Laplace objective; the selected inverse
equals the dense inverse on the factor's pattern."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mixedmodels_spatial._glmm import _Problem
from mixedmodels_spatial._kernel import make_kernel
from mixedmodels_spatial._latent import latent_plan, neighbour_weights, precision
from mixedmodels_spatial._selinv import SelectedInverter
from mixedmodels_spatial._sparse_cholesky import cholmod_available
from scipy import sparse
from spatial_helpers import REFERENCE


@pytest.fixture(scope="module")
def poisson():
    ref = json.loads((REFERENCE / "glmmtmb_poisson_matern.json").read_text())
    data = pd.read_csv(REFERENCE / "glmmtmb_poisson_matern.csv", dtype={"pos": str, "group": str})
    return ref, data


def _differences(problem, z, h=1e-3):
    """Five-point central differences (the inner Newton's tolerance makes the objective
    noisy at ~1e-10, so a larger step with a higher order)."""
    out = np.empty_like(z)
    for i in range(z.size):
        e = np.zeros_like(z)
        e[i] = h
        f = [problem.objective(z + c * e) for c in (2, 1, -1, -2)]
        out[i] = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h)
    return out


@pytest.mark.parametrize(
    ("structure", "m", "family"),
    [
        ("exponential", 10, "poisson"),
        ("matern", 8, "poisson"),  # smoothness estimated
        ("matern", 99, "poisson"),  # the exact GP
        ("gaussian", 6, "binomial"),
        ("ratio", 12, "binomial"),
    ],
)
def test_gradient_equals_differences(poisson, structure, m, family):
    ref, data = poisson
    xy = data[["gx", "gy"]].to_numpy()
    X = np.column_stack([np.ones(len(data)), data["x"]])
    y = data["y"].to_numpy(float)
    trials = np.ones(len(data))
    if family == "binomial":
        trials = np.full(len(data), 4.0)
        y = np.minimum(y, 4.0)
    kernel = make_kernel(structure, xy)
    problem = _Problem(family, kernel, latent_plan(xy, m), y, X, trials)
    z = np.concatenate([list(ref["fixef"].values()), ref["theta"]])[: 3 + kernel.n_params]
    z = z + 0.05
    value, grad = problem.value_and_gradient(z)
    assert value == pytest.approx(problem.objective(z), rel=1e-12)
    np.testing.assert_allclose(grad, _differences(problem, z), rtol=1e-6, atol=1e-6)


def test_selected_inverse_is_the_inverse_on_the_pattern():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 1, (500, 2))
    lp = latent_plan(xy, 12)
    B, F = neighbour_weights(make_kernel("exponential", xy), np.array([np.log(0.15)]), lp.vp)
    H = (precision(lp.vp, B, F) / 2.0 + sparse.diags(rng.uniform(0.1, 3.0, lp.u))).tocsc()
    inverter = SelectedInverter()
    inverter(H)  # the ordering is kept for the second matrix
    sel = inverter(H * 1.5)
    Z = np.linalg.inv(H.toarray() * 1.5)
    np.testing.assert_allclose(sel.diagonal(), np.diag(Z), rtol=1e-10)
    coo = H.tocoo()
    np.testing.assert_allclose(sel.entries(coo.row, coo.col), Z[coo.row, coo.col], atol=1e-12)
    far = np.unravel_index(np.argmin(np.abs(Z)), Z.shape)  # off the pattern
    if H[far] == 0:
        with pytest.raises(KeyError, match="pattern"):
            sel.entries(np.array([far[0]]), np.array([far[1]]))


def test_selected_inverse_keeps_its_pattern_when_entries_are_exactly_zero():
    # A correlation that underflows leaves exact zeros in H; SuperLU drops them from L,
    # which changed the pattern (and the positions kept for it) between matrices.
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 1, (300, 2))
    lp = latent_plan(xy, 8)
    B, F = neighbour_weights(make_kernel("exponential", xy), np.array([np.log(0.15)]), lp.vp)
    H = (precision(lp.vp, B, F) + sparse.diags(rng.uniform(0.1, 3.0, lp.u))).tocsc()
    inverter = SelectedInverter()
    first = inverter(H)
    coo = H.tocoo()
    off = np.flatnonzero(coo.row != coo.col)
    pos = first.positions(coo.row[off], coo.col[off])
    zeroed = H.copy()  # the same pattern, a third of the off-diagonal values exactly 0
    col = np.repeat(np.arange(lp.u), np.diff(zeroed.indptr))
    diag = zeroed.indices == col
    small = np.abs(zeroed.data) < np.quantile(np.abs(zeroed.data[~diag]), 0.3)
    zeroed.data[small & ~diag] = 0.0
    zeroed.data[diag] += 5.0  # still positive definite
    assert zeroed.nnz == H.nnz and np.sum(zeroed.data == 0.0) > 100
    sel = inverter(zeroed)
    assert sel.version == first.version
    Z = np.linalg.inv(zeroed.toarray())
    np.testing.assert_allclose(sel.values()[pos], Z[coo.row[off], coo.col[off]], atol=1e-12)
    np.testing.assert_allclose(sel.diagonal(), np.diag(Z), rtol=1e-10)


@pytest.mark.skipif(not cholmod_available(), reason="cvxopt is not installed")
def test_objective_same_with_both_backends(poisson):
    ref, data = poisson
    xy = data[["gx", "gy"]].to_numpy()
    X = np.column_stack([np.ones(len(data)), data["x"]])
    y = data["y"].to_numpy(float)
    z = np.concatenate([list(ref["fixef"].values()), ref["theta"]])
    values = [
        _Problem(
            "poisson",
            make_kernel("matern", xy),
            latent_plan(xy, 9, backend=b),
            y,
            X,
            np.ones(len(y)),
        ).value_and_gradient(z)
        for b in ("superlu", "cholmod")
    ]
    assert values[0][0] == pytest.approx(values[1][0], rel=1e-12)
    np.testing.assert_allclose(values[0][1], values[1][1], rtol=1e-8)
