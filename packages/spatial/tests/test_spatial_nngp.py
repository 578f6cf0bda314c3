"""Nearest-neighbour (Vecchia) likelihood: exact at m = n - 1, exact neighbour search,
and m = 30 reproducing the exact fit on 2,000 simulated points."""

from __future__ import annotations

import numpy as np
import pytest
from mixedmodels_spatial import spatial_lmm
from mixedmodels_spatial._batched import cholesky, cholesky_packed, forward_solve, packed_index
from mixedmodels_spatial._fit import _Problem
from mixedmodels_spatial._kernel import make_kernel
from mixedmodels_spatial._neighbours import order_locations, ordered_neighbours
from mixedmodels_spatial._vecchia import plan
from scipy.spatial.distance import cdist
from spatial_helpers import simulate


def test_batched_linear_algebra_matches_numpy():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(40, 6, 6))
    A = A @ A.transpose(0, 2, 1) + 6 * np.eye(6)
    B = rng.normal(size=(40, 6, 2))
    L = cholesky(np.ascontiguousarray(A.transpose(1, 2, 0)))
    np.testing.assert_allclose(L.transpose(2, 0, 1), np.linalg.cholesky(A), atol=1e-12)
    rows, cols = packed_index(6)
    Lp = cholesky_packed(np.ascontiguousarray(A[:, rows, cols].T), 6)
    np.testing.assert_allclose(Lp, L, atol=1e-13)
    X = forward_solve(L, np.ascontiguousarray(B.transpose(1, 2, 0)))
    np.testing.assert_allclose(
        X.transpose(2, 0, 1), np.linalg.solve(np.linalg.cholesky(A), B), atol=1e-12
    )


@pytest.mark.parametrize("ordering", ["maxmin", "coord", "sum"])
def test_neighbour_search_is_exact(ordering):
    rng = np.random.default_rng(5)
    pts = rng.uniform(size=(1500, 2))
    pts = pts[order_locations(pts, ordering)]
    m = 7
    nb = ordered_neighbours(pts, m)
    D = cdist(pts, pts)
    D[np.triu_indices(pts.shape[0])] = np.inf
    ref = np.argsort(D, axis=1, kind="stable")[:, :m]
    ref = np.where(np.isfinite(np.take_along_axis(D, ref, 1)), ref, -1)
    np.testing.assert_array_equal(np.sort(nb, 1), np.sort(ref, 1))


def test_maxmin_ordering_is_a_permutation_spreading_points_first():
    rng = np.random.default_rng(2)
    pts = rng.uniform(size=(5000, 2))
    order = order_locations(pts, "maxmin")
    assert np.array_equal(np.sort(order), np.arange(5000))
    # The first 16 points cover the square: each quadrant holds some.
    first = pts[order[:16]]
    quadrant = (first[:, 0] > 0.5) * 2 + (first[:, 1] > 0.5)
    assert set(quadrant.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("structure", "options", "reml", "ordering", "lonlat"),
    [
        ("exponential", {"nugget": True}, False, "maxmin", False),
        ("exponential", {"nugget": True}, True, "coord", False),
        ("matern", {"nugget": True, "nu": 1.5}, False, "sum", False),
        ("matern", {"nu": 0.8}, True, "maxmin", False),
        ("gaussian", {"nugget": True}, False, "maxmin", False),
        ("exponential", {"nugget": True, "metric": "great_circle"}, False, "maxmin", True),
    ],
)
def test_m_n_minus_one_is_the_exact_likelihood(structure, options, reml, ordering, lonlat):
    data = simulate(100, 11, lonlat=lonlat)
    xy = data[["sx", "sy"]].to_numpy()
    cols = np.column_stack([data["z"], np.ones(100), data["x1"]])
    k = make_kernel(structure, xy, **options)
    vp = plan(xy, 99, ordering, k.metric)
    nn = _Problem(k, vp.coords, cols[vp.order], reml, vp)
    exact = _Problem(k, xy, cols, reml, None)
    rng = np.random.default_rng(3)
    for _ in range(3):
        params = k.start() + rng.normal(0, 0.3, k.n_params)
        assert nn.deviance(params) == pytest.approx(exact.deviance(params), rel=1e-8)


def test_m_n_minus_one_fit_equals_exact_fit():
    data = simulate(80, 4)
    exact = spatial_lmm("z ~ x1", data, ["sx", "sy"], method="exact")
    nn = spatial_lmm("z ~ x1", data, ["sx", "sy"], m=79)
    assert nn.loglik == pytest.approx(exact.loglik, rel=1e-8)
    np.testing.assert_allclose(nn.params, exact.params, rtol=1e-4, atol=1e-5)


def test_m30_reproduces_the_exact_fit_on_2000_points():
    # The mean is 10 so that "2% relative" means something for the intercept too.
    data = simulate(2000, 42, mean=10.0)
    nn = spatial_lmm("z ~ x1", data, ["sx", "sy"], m=30)
    # Started at the NNGP estimates: the same optimum, fewer dense factorisations.
    exact = spatial_lmm("z ~ x1", data, ["sx", "sy"], method="exact", start=nn.params)
    assert nn.converged and exact.converged
    a = exact.structure_parameters(conf_int=False).set_index("term")["estimate"]
    b = nn.structure_parameters(conf_int=False).set_index("term")["estimate"]
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=0.02)
    np.testing.assert_allclose(nn.fixef.to_numpy(), exact.fixef.to_numpy(), rtol=0.02)
    # And within a quarter of a standard error (the intercept moves by 0.18 SE).
    assert np.all(np.abs(nn.fixef - exact.fixef) < 0.25 * exact.fixef_se)


def test_exact_spatial_lmm_matches_nlme_reference():
    from spatial_helpers import reference_case, reference_data

    case = reference_case("gls_spatial_corexp_nugget_ml")
    ref = case["results"]
    fit = spatial_lmm("z ~ x1", reference_data(case["case_id"]), ["sx", "sy"], method="exact")
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    for name, value in ref["coef"].items():
        assert fit.fixef[name] == pytest.approx(value, rel=1e-4)
    table = fit.structure_parameters().set_index("term")
    for term in ("range", "nugget"):
        assert table.loc[term, "estimate"] == pytest.approx(
            ref["corStruct"]["coef"][term], rel=1e-4
        )
    ivals = ref["intervals_95"]["corStruct"]
    for term, (lo, _, hi) in zip(ivals["rownames"], ivals["values"], strict=True):
        assert table.loc[term, "conf.low"] == pytest.approx(lo, rel=2e-3)
        assert table.loc[term, "conf.high"] == pytest.approx(hi, rel=2e-3)
    assert table.loc["sigma", "estimate"] == pytest.approx(ref["sigma"], rel=1e-4)
    lo, hi = ref["intervals_95"]["sigma"]["lower"], ref["intervals_95"]["sigma"]["upper"]
    assert table.loc["sigma", "conf.low"] == pytest.approx(lo, rel=2e-3)
    assert table.loc["sigma", "conf.high"] == pytest.approx(hi, rel=2e-3)
