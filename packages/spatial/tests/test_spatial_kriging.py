"""Kriging: exact against a direct conditional-Gaussian computation; nearest-neighbour
with all observations equals exact, and with m = 30 is close."""

from __future__ import annotations

import mixedmodels_spatial as ms
import numpy as np
import pytest
from spatial_helpers import simulate


@pytest.fixture(scope="module")
def fitted():
    data = simulate(400, 3, mean=2.0)
    return data, ms.spatial_lmm("z ~ x1", data, ["sx", "sy"], method="exact")


def test_exact_kriging_is_the_conditional_gaussian(fitted):
    data, fit = fitted
    new = simulate(30, 9).assign(z=np.nan)
    got = fit.predict(new)
    # Joint covariance of (y, y0) with the GLS beta: the universal kriging equations.
    xy, xy0 = data[["sx", "sy"]].to_numpy(), new[["sx", "sy"]].to_numpy()
    k, p = fit.kernel, fit.params
    s2, nug = fit.sigma**2, k.unpack(p)["nugget"]
    S = s2 * k.matrix(p, xy)
    c = s2 * k.cross(p, xy0, xy)
    X = np.column_stack([np.ones(400), data["x1"]])
    X0 = np.column_stack([np.ones(30), new["x1"]])
    Si = np.linalg.inv(S)
    beta = np.linalg.solve(X.T @ Si @ X, X.T @ Si @ data["z"].to_numpy())
    pred = X0 @ beta + c @ Si @ (data["z"].to_numpy() - X @ beta)
    U = X0 - c @ Si @ X
    var = (
        s2
        - np.einsum("ij,jk,ik->i", c, Si, c)
        + np.einsum("ij,jk,ik->i", U, np.linalg.inv(X.T @ Si @ X), U)
    )
    np.testing.assert_allclose(got["fit"], pred, rtol=1e-8)
    np.testing.assert_allclose(got["variance"], var, rtol=1e-7)
    np.testing.assert_allclose(got["field_variance"], var - s2 * nug, rtol=1e-7)


def test_nearest_neighbour_kriging(fitted):
    _, fit = fitted
    new = simulate(40, 10).assign(z=np.nan)
    exact = fit.predict(new)
    every = ms.krige(fit, new, method="nngp", m=400)
    np.testing.assert_allclose(every.to_numpy(), exact.to_numpy(), rtol=1e-6, atol=1e-8)
    near = ms.krige(fit, new, method="nngp", m=30)
    assert np.max(np.abs(near["fit"] - exact["fit"]) / exact["se"]) < 0.1
    np.testing.assert_allclose(near["variance"], exact["variance"], rtol=0.02)


def test_prediction_variance_is_smallest_at_observed_locations(fitted):
    data, fit = fitted
    at = fit.predict(data.iloc[:5])
    far = data.iloc[:5].assign(sx=5.0, sy=5.0)  # far outside the unit square
    away = fit.predict(far)
    assert np.all(at["field_variance"] < away["field_variance"])
    # Far away, the prediction is the regression mean with the total variance.
    np.testing.assert_allclose(
        away["fit"], fit.fixef["(Intercept)"] + fit.fixef["x1"] * far["x1"], rtol=1e-6
    )


def test_kriging_from_a_core_gls_fit(fitted):
    import mixedmodels as mm

    data, own = fitted
    core = mm.gls("z ~ x1", data, correlation="exp(sx + sy, nugget = TRUE)", reml=False)
    new = simulate(20, 12).assign(z=np.nan)
    a = ms.krige(core, new)
    b = own.predict(new)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-4)
    # Random-effect terms: refused, naming them.
    with_re = mm.lmm(
        "z ~ x1 + (1 | g)", data.assign(g=np.arange(400) % 5), correlation="exp(sx + sy | g)"
    )
    with pytest.raises(ValueError, match=r"random-effect terms \(.*g.*\) is not supported"):
        ms.krige(with_re, new)


def test_kriging_within_groups_from_a_core_gls_fit(fitted):
    import mixedmodels as mm

    data, _ = fitted
    d = data.assign(g=np.where(data["sx"] < 0.5, "west", "east"))
    fit = mm.gls("z ~ x1", d, correlation="exp(sx + sy | g, nugget = TRUE)", reml=False)
    new = simulate(25, 13).assign(z=np.nan)
    new["g"] = np.where(np.arange(25) % 3 == 0, "west", "east")
    new.loc[new.index[:2], "g"] = "north"  # not in the fit
    got = ms.krige(fit, new)
    # Direct: the group's observations only, GLS beta from the fit (universal kriging).
    k = ms._kriging._CoreGLS(fit)
    s2, p = fit.sigma**2, k.params
    beta = fit.fixef.to_numpy()
    V = fit.vcov.to_numpy()
    X0 = np.column_stack([np.ones(25), new["x1"]])
    for i in range(25):
        g = new["g"].iloc[i]
        x0 = X0[i]
        rows = np.flatnonzero(d["g"].to_numpy() == g)
        if rows.size == 0:
            assert got["fit"].iloc[i] == pytest.approx(x0 @ beta, rel=1e-12)
            assert got["variance"].iloc[i] == pytest.approx(s2 + x0 @ V @ x0, rel=1e-10)
            continue
        xy = d[["sx", "sy"]].to_numpy()[rows]
        X = np.column_stack([np.ones(rows.size), d["x1"].to_numpy()[rows]])
        Si = np.linalg.inv(k.kernel.matrix(p, xy))
        c = k.kernel.cross(p, new[["sx", "sy"]].to_numpy()[i : i + 1], xy)[0]
        res = d["z"].to_numpy()[rows] - X @ beta
        u = x0 - X.T @ Si @ c
        assert got["fit"].iloc[i] == pytest.approx(x0 @ beta + c @ Si @ res, rel=1e-8)
        assert got["variance"].iloc[i] == pytest.approx(s2 * (1 - c @ Si @ c) + u @ V @ u, rel=1e-8)
    with pytest.raises(KeyError, match=r"group columns \['g'\]"):
        ms.krige(fit, new.drop(columns="g"))
    with pytest.raises(ValueError, match="within groups is exact only"):
        ms.krige(fit, new, method="nngp")
