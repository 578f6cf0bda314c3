"""Bad input gets a clear error naming the culprit."""

from __future__ import annotations

import mixedmodels_spatial as ms
import numpy as np
import pytest
from spatial_helpers import reference_data

import mixedmodels as mm


@pytest.fixture
def data():
    return reference_data("gls_spatial_corexp_nugget_ml").iloc[:60].reset_index(drop=True)


def test_nan_coordinates(data):
    data.loc[7, "sy"] = np.nan
    with pytest.raises(ValueError, match="'sy' has 1 missing"):
        ms.spatial_lmm("z ~ x1", data, ["sx", "sy"])
    with pytest.raises(ValueError, match="sy"):
        mm.gls("z ~ x1", data, correlation="exp(sx + sy, nugget = TRUE)")


def test_duplicated_locations_need_a_nugget(data):
    data.loc[5, ["sx", "sy"]] = data.loc[2, ["sx", "sy"]].to_numpy()
    with pytest.raises(ValueError, match=r"share a location.*nugget = TRUE"):
        mm.gls("z ~ x1", data, correlation="exp(sx + sy)")
    with pytest.raises(ValueError, match=r"share a location.*nugget=True"):
        ms.spatial_lmm("z ~ x1", data, ["sx", "sy"], nugget=False, method="exact")
    # With a nugget they are fine.
    fit = mm.gls("z ~ x1", data, correlation="exp(sx + sy, nugget = TRUE)")
    assert np.isfinite(fit.loglik)


def test_missing_coordinate_columns(data):
    with pytest.raises(KeyError, match="lat"):
        ms.spatial_lmm("z ~ x1", data, ["sx", "lat"])
    with pytest.raises(Exception, match="lat"):
        mm.gls("z ~ x1", data, correlation="exp(sx + lat)")
    with pytest.raises(ValueError, match="needs coordinate columns"):
        mm.gls("z ~ x1", data, correlation="exp()")


def test_lonlat_out_of_range(data):
    bad = data.assign(lon=data["sx"], lat=data["sy"] * 10)
    with pytest.raises(ValueError, match="latitude column 'lat' is out of"):
        ms.spatial_lmm("z ~ x1", bad, ["lon", "lat"], metric="great_circle")
    bad = data.assign(lon=data["sx"] * 100, lat=data["sy"])
    with pytest.raises(ValueError, match="longitude column 'lon' is out of"):
        mm.gls("z ~ x1", bad, correlation="exp(lon + lat, metric = great_circle)")


def test_m_at_least_n(data):
    with pytest.raises(ValueError, match="m = 60 neighbours: need 1 <= m <= n - 1 = 59"):
        ms.spatial_lmm("z ~ x1", data, ["sx", "sy"], m=60)
    fit = ms.spatial_lmm("z ~ x1", data, ["sx", "sy"], method="exact")
    with pytest.raises(ValueError, match="m = 61 neighbours"):
        ms.krige(fit, data.iloc[:3], method="nngp", m=61)


def test_other_mistakes(data):
    with pytest.raises(ValueError, match="unknown options \\['nuget'\\]"):
        mm.gls("z ~ x1", data, correlation="exp(sx + sy, nuget = TRUE)")
    with pytest.raises(ValueError, match="unknown distance metric 'manhattan'"):
        mm.gls("z ~ x1", data, correlation="exp(sx + sy, metric = manhattan)")
    with pytest.raises(ValueError, match="has no smoothness"):
        mm.gls("z ~ x1", data, correlation="exp(sx + sy, nu = 1.5)")
    with pytest.raises(ValueError, match="linear correlation is positive definite in at most 1"):
        mm.gls("z ~ x1", data, correlation="lin(sx + sy)")
    with pytest.raises(ValueError, match="unknown spatial structure 'expo'"):
        ms.spatial_lmm("z ~ x1", data, ["sx", "sy"], structure="expo")
    with pytest.raises(ValueError, match="fixed effects only"):
        ms.spatial_lmm("z ~ x1 + (1 | g)", data.assign(g=np.arange(60) % 5), ["sx", "sy"])


def test_field_term_with_repeated_coordinates():
    with pytest.raises(ValueError, match="same coordinates"):
        ms.STRUCTURES[0](3, ["pos(1,2)", "pos(1.0,2)", "pos(3,4)"])


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("z ~ x1 + Matern(1 | sx + lat)", r"Matern\(1 \| sx \+ lat\).*\['lat'\] are not in"),
        ("z ~ x1 + Matern(x1 | sx + sy)", r"Matern\(x1 \| sx \+ sy\).*only a field on the"),
        ("z ~ x1 + Matern(1 | sx + sy %in% g)", r"%in%"),
        ("z ~ x1 + Cauchy(1 | sx + sy)", r"Cauchy\(1 \| sx \+ sy\).*only Matern"),
        ("z ~ x1 + Matern(sx + sy)", r"Matern\(sx \+ sy\).*one '\|'"),
    ],
)
def test_spamm_terms_in_the_formula_name_the_term(data, formula, match):
    with pytest.raises(mm.ModelSpecificationError, match=match):
        mm.lmm(formula, data)


def test_spamm_term_with_nan_coordinates(data):
    data.loc[7, "sy"] = np.nan
    with pytest.raises(mm.ModelSpecificationError, match=r"Matern\(1 \| sx \+ sy\).*'sy'.*row 7"):
        mm.lmm("z ~ x1 + Matern(1 | sx + sy)", data)
