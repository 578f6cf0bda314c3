"""References made for this package (tools/reference/spatial/spatial_references.R):
nlme's corGaus and corSpher with a nugget, glmmTMB's Poisson GLMM with a Matérn field."""

from __future__ import annotations

import json

import mixedmodels_spatial as ms
import numpy as np
import pandas as pd
import pytest
from spatial_helpers import REFERENCE

import mixedmodels as mm


def _load(name):
    ref = json.loads((REFERENCE / f"{name}.json").read_text())
    data = pd.read_csv(REFERENCE / f"{name}.csv", dtype={"pos": str, "group": str})
    return ref, data


@pytest.mark.parametrize(
    ("name", "formula", "correlation", "reml"),
    [
        ("gls_corgaus_nugget_ml", "z ~ x1", "gau(sx + sy, nugget = TRUE)", False),
        ("gls_corspher_nugget_reml", "z ~ x1 + x2", "spher(sx + sy, nugget = TRUE)", True),
    ],
)
def test_nlme_gls_with_nugget(name, formula, correlation, reml):
    ref, data = _load(name)
    fit = mm.gls(formula, data, correlation=correlation, reml=reml)
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    for term, value in ref["coef"].items():
        assert fit.fixef[term] == pytest.approx(value, rel=1e-4)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    table = fit.structure_parameters(conf_int=False).set_index("term")
    for term in ("range", "nugget"):
        assert table.loc[term, "estimate"] == pytest.approx(ref["corStruct"][term], rel=1e-4)


def test_glmmtmb_poisson_matern_field():
    ref, data = _load("glmmtmb_poisson_matern")
    fit = mm.glmm("y ~ x + mat(pos + 0 | group)", data, family="poisson")
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    # Ours is 2e-8 higher: glmmTMB stopped a little short on a flat surface.
    assert fit.loglik >= ref["logLik"] - 1e-9
    for term, value in ref["fixef"].items():
        assert fit.fixef[term] == pytest.approx(value, rel=1e-4)
    theta = ms.glmmtmb_theta(fit).to_numpy()
    # log sd to 1e-4; range and smoothness, which trade off along a ridge where the
    # log-likelihood moves by 2e-8, to 3e-4 relative on the natural scale.
    assert theta[0] == pytest.approx(ref["theta"][0], rel=1e-4)
    np.testing.assert_allclose(np.exp(theta[1:]), np.exp(ref["theta"][1:]), rtol=3e-4)


def test_spamm_syntax_inside_mm_glmm():
    # spaMM's Matern(1 | x + y) in mm.glmm is glmmTMB's mat() over the same locations.
    ref, data = _load("glmmtmb_poisson_matern")
    fit = mm.glmm("y ~ x + Matern(1 | gx + gy)", data[["gx", "gy", "x", "y"]], family="poisson")
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    for term, value in ref["fixef"].items():
        assert fit.fixef[term] == pytest.approx(value, rel=1e-4)
