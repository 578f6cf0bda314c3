"""Predictions of spatial GLMMs at new locations (kriging of the field conditional on the
fitted parameters and the Laplace posterior): at fitted locations the core's
conditional predictions (Henderson's equations at the modes), at new ones exact kriging
computed densely here, and the nearest-neighbour field's own consistency."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from mixedmodels_spatial import SpatialGLMMFit, glmmtmb_theta, spatial_glmm
from scipy import integrate, special
from scipy.spatial.distance import cdist
from spatial_helpers import REFERENCE

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError


@pytest.fixture(scope="module")
def poisson30():
    data = pd.read_csv(REFERENCE / "glmmtmb_poisson_matern.csv", dtype={"pos": str, "group": str})
    locs = data[["gx", "gy"]].drop_duplicates().iloc[:30]
    sub = data.merge(locs, on=["gx", "gy"])
    core = mm.glmm("y ~ x + exp(pos + 0 | group)", sub, family="poisson")
    ours = spatial_glmm("y ~ x", sub, ["gx", "gy"], structure="exp", m=29)
    # Our fit moved to the core's estimates (the same Laplace model): the predictions
    # then differ only by the inner Newton's tolerance.
    z = np.concatenate([core.fixef.to_numpy(), np.asarray(glmmtmb_theta(core), dtype=float)])
    at_core = SpatialGLMMFit(
        ours._problem,
        z,
        SimpleNamespace(success=True, message="", nfev=0),
        list(ours.fixef.index),
        model=ours.model,
        coord_names=ours.coord_names,
    )
    return sub, core, ours, at_core


def test_at_fitted_locations_equals_the_core_conditional_prediction(poisson30):
    sub, core, _, at_core = poisson30
    assert at_core.loglik == pytest.approx(core.loglik, rel=1e-9)
    new = sub.iloc[::7]
    ref = core.predict(new, se_fit=True)
    ours = at_core.predict(new)
    np.testing.assert_allclose(ours["fit"], ref["fit"], rtol=1e-7)
    np.testing.assert_allclose(ours["se"], ref["se.fit"], rtol=1e-6)
    ref_r = core.predict(new, se_fit=True, type="response")
    ours_r = at_core.predict(new, type="response")
    np.testing.assert_allclose(ours_r["fit"], ref_r["fit"], rtol=1e-7)
    np.testing.assert_allclose(ours_r["se"], ref_r["se.fit"], rtol=1e-6)
    # Without the field: x' V x with V the fixed effects' covariance conditional on the
    # covariance parameters (the core's prediction for a new group of the field).
    fresh = new.assign(group="new")
    ref0 = core.predict(fresh, se_fit=True, allow_new_levels=True)
    ours0 = at_core.predict(new, re_form="NA")
    np.testing.assert_allclose(ours0["fit"], ref0["fit"], rtol=1e-7)
    np.testing.assert_allclose(ours0["se"], ref0["se.fit"], rtol=1e-6)


def _dense_kriging(fit, xy0, X0):
    """Exact kriging of the exact-GP spatial GLMM, dense: the joint Laplace precision of
    ``(beta, w)`` inverted whole."""
    P = fit._problem
    beta, log_sigma, params = P.split(fit.z)
    s2 = np.exp(2 * log_sigma)
    rng_ = np.exp(params[0])
    loc_xy = fit.coords
    C = np.exp(-cdist(loc_xy, loc_xy) / rng_)
    c0 = np.exp(-cdist(loc_xy, xy0) / rng_)
    eta = P.X @ beta + fit.mode[P.lp.loc]
    W = np.exp(eta)
    Z = np.zeros((P.y.size, P.lp.u))
    Z[np.arange(P.y.size), P.lp.loc] = 1.0
    A = np.hstack([P.X, Z])
    K = A.T @ (A * W[:, None])
    K[P.p :, P.p :] += np.linalg.inv(C) / s2
    Kinv = np.linalg.inv(K)
    b = np.linalg.solve(C, c0)  # (u, n0)
    mean = X0 @ beta + b.T @ fit.mode
    a = np.vstack([X0.T, b])  # (p + u, n0)
    var = s2 * (1.0 - np.sum(c0 * b, axis=0)) + np.einsum("in,ij,jn->n", a, Kinv, a)
    return mean, var


def test_exact_field_kriging_at_new_locations(poisson30):
    _, _, ours, _ = poisson30
    rng = np.random.default_rng(7)
    new = pd.DataFrame({"gx": rng.uniform(0, 10, 12), "gy": rng.uniform(0, 10, 12)})
    new["x"] = rng.normal(size=12)
    pred = ours.predict(new)  # every fitted location a neighbour: exact
    X0 = np.column_stack([np.ones(12), new["x"]])
    mean, var = _dense_kriging(ours, new[["gx", "gy"]].to_numpy(), X0)
    np.testing.assert_allclose(pred["fit"], mean, rtol=1e-8)
    np.testing.assert_allclose(pred["se"] ** 2, var, rtol=1e-8)
    # Fewer neighbours: an approximation, not the same numbers.
    near = ours.predict(new, m=3)
    assert not np.allclose(near["se"], pred["se"], rtol=1e-6)
    # On the response scale: the delta method's se and the lognormal mean.
    resp = ours.predict(new, type="response")
    np.testing.assert_allclose(resp["fit"], np.exp(mean), rtol=1e-8)
    np.testing.assert_allclose(resp["se"], np.exp(mean) * np.sqrt(var), rtol=1e-8)
    np.testing.assert_allclose(resp["mean"], np.exp(mean + var / 2), rtol=1e-8)
    assert np.all(resp["lower"] < resp["fit"]) and np.all(resp["fit"] < resp["upper"])


def test_nearest_neighbour_fit_predicts_its_modes_at_fitted_locations():
    rng = np.random.default_rng(11)
    locs = rng.uniform(0, 1, (120, 2))
    C = np.exp(-cdist(locs, locs) / 0.2)
    w = np.linalg.cholesky(C + 1e-10 * np.eye(120)) @ rng.normal(size=120)
    site = np.repeat(np.arange(120), 2)
    d = pd.DataFrame({"sx": locs[site, 0], "sy": locs[site, 1], "x": rng.normal(size=240)})
    d["y"] = rng.binomial(3, special.expit(0.2 + 0.5 * d["x"] + w[site]))
    d["n"] = 3
    fit = spatial_glmm("y ~ x", d, ["sx", "sy"], family="binomial", trials="n", m=10)
    P = fit._problem
    rows = pd.DataFrame({"sx": fit.coords[:, 0], "sy": fit.coords[:, 1], "x": 0.0})
    pred = fit.predict(rows, uncertainty="none")
    np.testing.assert_allclose(pred["fit"], fit.fixef["(Intercept)"] + fit.mode, atol=1e-8)
    fit._at_mode()
    h_diag = np.array([P.chol.solve(np.eye(P.lp.u)[:, i])[i] for i in range(0, 120, 17)])
    np.testing.assert_allclose(pred["se"].to_numpy()[::17] ** 2, h_diag, rtol=1e-6)
    # The logit-normal mean by quadrature against a direct integral.
    resp = fit.predict(rows.iloc[:3], type="response")
    for (_, r), ref in zip(resp.iterrows(), rows.iloc[:3].itertuples(), strict=True):
        eta = fit.predict(pd.DataFrame([ref._asdict()]).drop(columns="Index"))
        mu, sd = float(eta["fit"].iloc[0]), float(eta["se"].iloc[0])
        direct = integrate.quad(
            lambda t, mu=mu, sd=sd: special.expit(mu + sd * t) * np.exp(-t * t / 2), -12, 12
        )[0] / np.sqrt(2 * np.pi)
        assert r["mean"] == pytest.approx(direct, rel=1e-9)


def test_nugget_prediction_at_a_site_and_between_sites():
    rng = np.random.default_rng(5)
    locs = rng.uniform(0, 3, (25, 2))
    site = rng.integers(0, 25, 200)
    C = np.exp(-cdist(locs, locs) / 0.8)
    w = np.linalg.cholesky(C + 1e-10 * np.eye(25)) @ rng.normal(size=25) + 0.4 * rng.normal(size=25)
    d = pd.DataFrame({"gx": locs[site, 0], "gy": locs[site, 1], "x": rng.normal(size=200)})
    d["y"] = rng.poisson(np.exp(0.5 + 0.3 * d["x"] + w[site]))
    fit = spatial_glmm("y ~ x", d, ["gx", "gy"], nugget=True, m=24)
    g = fit.kernel.unpack(fit.params)["nugget"]
    assert 0.01 < g < 0.99
    at = pd.DataFrame({"gx": fit.coords[:4, 0], "gy": fit.coords[:4, 1], "x": 0.0})
    pred = fit.predict(at)
    np.testing.assert_allclose(pred["fit"], fit.fixef["(Intercept)"] + fit.mode[:4], atol=1e-8)
    new = pd.DataFrame({"gx": [1.1, 2.2], "gy": [0.3, 1.7], "x": [0.0, 1.0]})
    with_nugget = fit.predict(new, uncertainty="none")
    smooth = fit.predict(new, nugget=False, uncertainty="none")
    # The smooth field's kriging variance lacks the new location's own nugget.
    np.testing.assert_allclose(with_nugget["se"] ** 2 - smooth["se"] ** 2, fit.sd**2 * g, rtol=1e-8)
    np.testing.assert_allclose(with_nugget["fit"], smooth["fit"], rtol=1e-12)


def test_predict_bad_input(poisson30):
    sub, _, ours, _ = poisson30
    new = sub.iloc[:3]
    with pytest.raises(ValueError, match="type must be"):
        ours.predict(new, type="probability")
    with pytest.raises(ValueError, match="re_form"):
        ours.predict(new, re_form="~(1|pos)")
    with pytest.raises(KeyError, match="gy"):
        ours.predict(new.drop(columns="gy"))
    with pytest.raises(ValueError, match="gx"):
        ours.predict(new.assign(gx=np.nan))
    with pytest.raises(ValueError, match="m = 31"):
        ours.predict(new, m=31)
    with pytest.raises(ValueError, match="uncertainty must be"):
        ours.predict(new, uncertainty="theta")
    with pytest.raises(ModelSpecificationError, match="column 'x'"):
        ours.predict(new.drop(columns="x"))
    with pytest.raises(ValueError, match="coordinate column 'gx'"):
        ours.predict(new.assign(gx="east"))


def test_kriging_means_are_glmmtmbs():
    # glmmTMB(y ~ x + exp(pos + 0 | group), poisson); predict(newdata, allow.new.levels =
    # TRUE): its predictions at new and fitted locations, our fit at its estimates
    # (tools/reference/spatial/glmmtmb_predict.R).
    import json

    ref = json.loads((REFERENCE / "glmmtmb_predict_exp.json").read_text())
    data = pd.read_csv(REFERENCE / "glmmtmb_poisson_matern.csv", dtype={"pos": str, "group": str})
    fit = spatial_glmm("y ~ x", data, ["gx", "gy"], structure="exp", m=99, start=ref["par"])
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-9)
    at = SpatialGLMMFit(
        fit._problem,
        np.asarray(ref["par"]),
        SimpleNamespace(success=True, message="", nfev=0),
        list(fit.fixef.index),
        model=fit.model,
        coord_names=fit.coord_names,
    )
    new = pd.DataFrame(ref["newdata"])
    pred = at.predict(new)
    np.testing.assert_allclose(pred["fit"], ref["fit"], rtol=1e-6)
    np.testing.assert_allclose(at.predict(new, type="response")["fit"], ref["response"], rtol=1e-6)
    # glmmTMB's se.fit adds the covariance parameters' uncertainty (TMB's delta method
    # over all parameters); ours takes them as known: smaller, by under 3% here.
    ratio = pred["se"].to_numpy() / np.asarray(ref["se_fit"])
    assert np.all(ratio < 1.0) and np.all(ratio > 0.97)
    # With that uncertainty (generalized delta method over all parameters): glmmTMB's.
    full = at.predict(new, uncertainty="all")
    np.testing.assert_allclose(full["se"], ref["se_fit"], rtol=1e-4)


def test_outer_covariance_and_wald_intervals_are_glmmtmbs():
    # glmmTMB's vcov(fit, full = TRUE) (beta, log sd, log range) at its estimates.
    import json

    ref = json.loads((REFERENCE / "glmmtmb_predict_exp.json").read_text())
    data = pd.read_csv(REFERENCE / "glmmtmb_poisson_matern.csv", dtype={"pos": str, "group": str})
    fit = spatial_glmm("y ~ x", data, ["gx", "gy"], structure="exp", m=99, start=ref["par"])
    at = SpatialGLMMFit(
        fit._problem,
        np.asarray(ref["par"]),
        SimpleNamespace(success=True, message="", nfev=0),
        list(fit.fixef.index),
        model=fit.model,
        coord_names=fit.coord_names,
    )
    V = at.covariance().to_numpy()
    np.testing.assert_allclose(V, np.asarray(ref["vcov_full"]), rtol=1e-4, atol=1e-7)
    table = at.structure_parameters(conf_int=True).set_index("term")
    se = np.sqrt(np.diag(np.asarray(ref["vcov_full"])))[2:]
    theta = np.asarray(ref["par"])[2:]
    np.testing.assert_allclose(table["lower"], np.exp(theta - 1.959963984540054 * se), rtol=1e-5)
    np.testing.assert_allclose(table["upper"], np.exp(theta + 1.959963984540054 * se), rtol=1e-5)
    # The fixed effects' covariance conditional on the covariance parameters is smaller.
    assert np.all(np.diag(at.vcov().to_numpy()) <= np.diag(V)[:2])
