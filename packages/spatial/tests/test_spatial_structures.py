"""The structures themselves: the conformance kit, the correlation functions against
their definitions, distances, and the options of the residual use."""

from __future__ import annotations

import mixedmodels_spatial as ms
import numpy as np
import pandas as pd
import pytest
from mixedmodels_spatial._distance import distances
from mixedmodels_spatial._kernel import make_kernel
from scipy import special
from spatial_helpers import reference_data

import mixedmodels as mm
from mixedmodels.plugin_manager import manager
from mixedmodels.testing import check_covariance_structure


@pytest.mark.parametrize("cls", ms.STRUCTURES, ids=lambda c: c.name)
def test_conformance_kit(cls):
    check_covariance_structure(cls)


@pytest.mark.parametrize("cls", ms.STRUCTURES, ids=lambda c: c.name)
def test_registered_through_the_hook(cls):
    assert manager.get_covariance_structure(cls.name) is cls


def _matern_kv(h, nu):
    return 2 ** (1 - nu) / special.gamma(nu) * h**nu * special.kv(nu, h)


@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5, 0.8, 3.7])
def test_matern_closed_forms_and_kv(nu):
    h = np.array([1e-3, 0.1, 0.5, 1.0, 2.3, 7.0])
    np.testing.assert_allclose(ms.matern(h, nu), _matern_kv(h, nu), rtol=1e-10)
    assert ms.matern(np.zeros(1), nu)[0] == 1.0


def test_matern_general_nu_is_continuous_at_closed_forms():
    h = np.linspace(0.01, 5, 50)
    np.testing.assert_allclose(ms.matern(h, 1.5 + 1e-9), ms.matern(h, 1.5), rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "fun"),
    [
        ("exponential", lambda h: np.exp(-h)),
        ("gaussian", lambda h: np.exp(-(h**2))),
        ("spherical", lambda h: np.where(h < 1, 1 - 1.5 * h + 0.5 * h**3, 0.0)),
        ("ratio", lambda h: 1 / (1 + h**2)),
        ("linear", lambda h: np.where(h < 1, 1 - h, 0.0)),
    ],
)
def test_correlation_functions_and_nugget(name, fun):
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    if name == "linear":
        coords = coords[:, :1]
    k = make_kernel(name, coords, nugget=True)
    params = np.array([np.log(2.5), np.log(0.3 / 0.7)])
    C = k.matrix(params, coords)
    d = distances(coords, coords)
    expected = 0.7 * fun(d / 2.5)
    np.fill_diagonal(expected, 1.0)
    np.testing.assert_allclose(C, expected, rtol=1e-12)
    assert dict(k.natural_parameters(params)) == pytest.approx({"range": 2.5, "nugget": 0.3})


def test_great_circle_distance_km():
    # Paris - London, about 343.5 km on a sphere of radius 6371.0088 km.
    paris = np.array([[2.3522, 48.8566]])
    london = np.array([[-0.1276, 51.5072]])
    d = distances(paris, london, "great_circle")[0, 0]
    assert d == pytest.approx(343.5, abs=1.0)
    # A quarter of the equator.
    q = distances(np.array([[0.0, 0.0]]), np.array([[90.0, 0.0]]), "great_circle")[0, 0]
    assert q == pytest.approx(np.pi / 2 * 6371.0088, rel=1e-12)


def test_anisotropy_reduces_to_isotropy_and_stretches():
    rng = np.random.default_rng(1)
    coords = rng.uniform(0, 5, (6, 2))
    iso = make_kernel("exponential", coords, range_start=2.0)
    ani = make_kernel("exponential", coords, anisotropy=True, range_start=2.0)
    p_iso = np.array([np.log(2.0)])
    np.testing.assert_allclose(
        ani.matrix(np.array([np.log(2.0), 0.3, 0.0]), coords), iso.matrix(p_iso, coords)
    )
    # angle 0 (logistic(-inf)): the first axis keeps its scale, the second shrinks.
    p = np.array([np.log(2.0), -40.0, np.log(0.5)])
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    d = ani.distance(pts, pts, p)
    assert d[0, 1] == pytest.approx(1.0)
    assert d[0, 2] == pytest.approx(2.0)


def test_residual_great_circle_and_anisotropy_fit():
    rng = np.random.default_rng(7)
    n = 120
    lon, lat = rng.uniform(-5, 5, n), rng.uniform(40, 50, n)
    data = pd.DataFrame({"lon": lon, "lat": lat, "x": rng.normal(size=n)})
    data["y"] = 1 + data["x"] + rng.normal(size=n)
    fit = mm.gls("y ~ x", data, correlation="exp(lon + lat, metric = great_circle, nugget = TRUE)")
    table = fit.structure_parameters(conf_int=False).set_index("term")
    assert {"range", "nugget"} <= set(table.index)
    data["sx"], data["sy"] = lon, lat
    fit2 = mm.gls("y ~ x", data, correlation="exp(sx + sy, anisotropy = TRUE, nugget = TRUE)")
    assert {"aniso.angle", "aniso.ratio"} <= set(fit2.structure_parameters(conf_int=False)["term"])
    assert (
        fit2.loglik
        >= mm.gls("y ~ x", data, correlation="exp(sx + sy, nugget = TRUE)").loglik - 1e-6
    )


def test_fixed_smoothness_matches_named_structure():
    data = reference_data("gls_spatial_corexp_nugget_ml").iloc[:150]
    a = mm.gls("z ~ x1", data, correlation="mat(sx + sy, nu = 1.5, nugget = TRUE)")
    b = mm.gls("z ~ x1", data, correlation="matern32(sx + sy, nugget = TRUE)")
    assert a.loglik == pytest.approx(b.loglik, rel=1e-8)
    # Matérn 1/2 is the exponential.
    c = mm.gls("z ~ x1", data, correlation="mat(sx + sy, nu = 0.5, nugget = TRUE)")
    d = mm.gls("z ~ x1", data, correlation="exp(sx + sy, nugget = TRUE)")
    assert c.loglik == pytest.approx(d.loglik, rel=1e-7)


def test_coordinates_from_column_names():
    xy = ms._structures.coordinates_from_names(["pos(0,2.19)", "pos(1e-3,-4)"])
    np.testing.assert_array_equal(xy, [[0.0, 2.19], [0.001, -4.0]])
    np.testing.assert_array_equal(
        ms._structures.coordinates_from_names(["factor(t)1", "factor(t)3"]), [[1.0], [3.0]]
    )
    assert ms._structures.coordinates_from_names(["a", "b"]) is None


def test_num_factor_roundtrip():
    data = reference_data("glmmtmb_spatial_exp_gaussian")
    pos = ms.num_factor(data, ["gx", "gy"])
    assert (pos == data["pos"]).all()
