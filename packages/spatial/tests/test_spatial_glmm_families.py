"""Spatial GLMMs beyond Poisson and the binomial logit, with a nugget and with a
geometric anisotropy: with ``m = u - 1`` each equals the core's exact-field Laplace fit
(``mm.glmm(... + exp(pos + 0 | group))``; the nugget as ``+ (1 | pos)``) or, for the
anisotropy (which the core's field does not take), a dense Laplace computed here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mixedmodels_spatial import glmmtmb_theta, num_factor, spatial_glmm
from mixedmodels_spatial._distance import anisotropy_matrix
from mixedmodels_spatial._glmm import _Problem, glm_family
from mixedmodels_spatial._kernel import make_kernel
from mixedmodels_spatial._latent import latent_plan
from scipy import special, stats
from scipy.spatial.distance import cdist

import mixedmodels as mm


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(4)
    u, n = 25, 150
    locs = rng.uniform(0, 3, (u, 2))
    site = rng.integers(0, u, n)
    C = np.exp(-cdist(locs, locs) / 0.8)
    w = np.linalg.cholesky(C + 1e-10 * np.eye(u)) @ rng.normal(size=u)
    d = pd.DataFrame({"gx": locs[site, 0], "gy": locs[site, 1], "x": rng.normal(size=n)})
    eta = -0.3 + 0.8 * d["x"] + w[site]
    d["yb"] = rng.binomial(1, stats.norm.cdf(eta))
    d["yc"] = rng.binomial(1, 1 - np.exp(-np.exp(eta)))
    d["yn"] = rng.negative_binomial(2.0, 2.0 / (2.0 + np.exp(eta + 1)))
    d["yg"] = rng.gamma(3.0, np.exp(eta) / 3.0)
    d["yp"] = rng.poisson(np.exp(eta + 0.5 + 0.5 * rng.normal(size=u)[site]))
    d["pos"] = num_factor(d, ["gx", "gy"])
    d["group"] = "1"
    return d


CASES = [
    # (family, link, response, information): the core's Laplace uses lme4's Fisher
    # weights for probit/cloglog and the negative binomial, the observed for Gamma.
    ("binomial", "probit", "yb", "expected"),
    ("binomial", "cloglog", "yc", "expected"),
    ("negative_binomial", None, "yn", "expected"),
    ("Gamma", "log", "yg", "observed"),
]


@pytest.mark.parametrize(("family", "link", "y", "information"), CASES)
def test_family_at_m_u_minus_1_is_the_core_exact_laplace(sim, family, link, y, information):
    core = mm.glmm(f"{y} ~ x + exp(pos + 0 | group)", sim, family=family, link=link)
    ours = spatial_glmm(
        f"{y} ~ x", sim, ["gx", "gy"], family=family, link=link, m=24, information=information
    )
    assert ours.converged
    assert ours.loglik == pytest.approx(core.loglik, rel=1e-8)
    np.testing.assert_allclose(ours.fixef, core.fixef, rtol=1e-4)
    np.testing.assert_allclose(np.exp(ours.glmmtmb_theta()), np.exp(glmmtmb_theta(core)), rtol=1e-4)
    if family == "Gamma":
        assert ours.family_parameter == pytest.approx(core.dispersion, rel=1e-4)
    if family == "negative_binomial":
        assert ours.family_parameter == pytest.approx(core.nb_size, rel=1e-4)
        # Wald intervals from differences of the objective (no analytic gradient here).
        table = ours.structure_parameters(conf_int=True)
        assert np.all(table["lower"] < table["estimate"])
        assert np.all(table["estimate"] < table["upper"])
        assert list(table["term"]) == ["sd", "range", "size"]
    # The Laplace value itself at the core's estimates, to the inner tolerance.
    P = ours._problem
    z = np.concatenate(
        [core.fixef.to_numpy(), glmmtmb_theta(core), np.log([ours.family_parameter or 1.0])]
    )[: P.n_outer]
    if family in ("Gamma", "negative_binomial"):
        z[-1] = np.log(core.dispersion if family == "Gamma" else core.nb_size)
    assert -P.objective(z) == pytest.approx(core.loglik, rel=1e-9)


def test_observed_and_expected_information_differ_off_the_canonical_link(sim):
    xy = sim[["gx", "gy"]].to_numpy()
    k = make_kernel("exponential", xy)
    lp = latent_plan(xy, 24)
    X = np.column_stack([np.ones(len(sim)), sim["x"]])
    y, t = sim["yb"].to_numpy(float), np.ones(len(sim))
    z = np.array([0.5, 0.5, 0.2, -0.3])
    obs = _Problem(glm_family("binomial", "probit"), k, lp, y, X, t).objective(z)
    exp_ = _Problem(glm_family("binomial", "probit", "expected"), k, lp, y, X, t).objective(z)
    assert abs(obs - exp_) > 1e-4
    logit_o = _Problem(glm_family("binomial"), k, lp, y, X, t).objective(z)
    logit_e = _Problem(glm_family("binomial", None, "expected"), k, lp, y, X, t).objective(z)
    assert logit_o == pytest.approx(logit_e, rel=1e-12)


@pytest.mark.parametrize(("family", "link"), [("binomial", "probit"), ("binomial", "cloglog")])
def test_family_terms_are_the_densities_and_their_derivatives(family, link):
    # sum l_i against scipy's densities; dl/deta, W, dW/deta against differences.
    rng = np.random.default_rng(1)
    eta = rng.normal(size=20)
    t = rng.integers(1, 6, 20).astype(float)
    y = np.floor(t * rng.uniform(size=20))
    fam = glm_family(family, link)
    ll, d1, w, dw = fam.terms(y, eta, t)
    assert ll == pytest.approx(float(np.sum(stats.binom.logpmf(y, t, fam.inverse(eta)))))
    h = 1e-5
    lp = np.array([fam.terms(y[i : i + 1], eta[i : i + 1] + h, t[i : i + 1])[0] for i in range(20)])
    lm = np.array([fam.terms(y[i : i + 1], eta[i : i + 1] - h, t[i : i + 1])[0] for i in range(20)])
    np.testing.assert_allclose(d1, (lp - lm) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        w, -(fam.terms(y, eta + h, t)[1] - fam.terms(y, eta - h, t)[1]) / (2 * h), rtol=1e-6
    )
    np.testing.assert_allclose(
        dw, (fam.terms(y, eta + h, t)[2] - fam.terms(y, eta - h, t)[2]) / (2 * h), rtol=1e-5
    )
    for other in ("negative_binomial", "Gamma"):
        f2 = glm_family(other)
        yy = np.abs(y) + (0.5 if other == "Gamma" else 0.0)
        _, d1, w, dw = f2.terms(yy, eta, t, np.log(1.7))
        up, down = f2.terms(yy, eta + h, t, np.log(1.7)), f2.terms(yy, eta - h, t, np.log(1.7))
        np.testing.assert_allclose(w, -(up[1] - down[1]) / (2 * h), rtol=1e-6)
        np.testing.assert_allclose(dw, (up[2] - down[2]) / (2 * h), rtol=1e-5, atol=1e-9)
    mu = np.exp(eta)
    nb = glm_family("nbinom2").terms(y, eta, t, np.log(1.7))[0]
    assert nb == pytest.approx(float(np.sum(stats.nbinom.logpmf(y, 1.7, 1.7 / (1.7 + mu)))))
    yy = y + 0.5
    ga = glm_family("gamma").terms(yy, eta, t, np.log(0.4))[0]
    assert ga == pytest.approx(float(np.sum(stats.gamma.logpdf(yy, 1 / 0.4, scale=0.4 * mu))))


def test_nugget_at_m_u_minus_1_is_the_core_field_plus_location_intercept():
    rng = np.random.default_rng(8)
    u = 30
    locs = rng.uniform(0, 3, (u, 2))
    site = np.repeat(np.arange(u), 8)
    C = np.exp(-cdist(locs, locs) / 1.5)
    w = np.linalg.cholesky(C + 1e-10 * np.eye(u)) @ rng.normal(size=u)
    w += 0.8 * rng.normal(size=u)  # the nugget: iid at each location
    d = pd.DataFrame({"gx": locs[site, 0], "gy": locs[site, 1], "x": rng.normal(size=site.size)})
    d["y"] = rng.poisson(np.exp(0.5 + 0.3 * d["x"] + w[site]))
    d["pos"] = num_factor(d, ["gx", "gy"])
    d["group"] = "1"
    core = mm.glmm("y ~ x + exp(pos + 0 | group) + (1 | pos)", d, family="poisson")
    ours = spatial_glmm("y ~ x", d, ["gx", "gy"], m=u - 1, nugget=True)
    assert ours.converged
    assert ours.loglik == pytest.approx(core.loglik, rel=1e-8)
    np.testing.assert_allclose(ours.fixef, core.fixef, rtol=1e-4)
    vc = core.varcorr()
    sd_pos = float(vc.loc[vc["grp"] == "pos", "sdcor"].iloc[0])
    sd_field = float(np.exp(np.asarray(glmmtmb_theta(core))[0]))
    g = ours.kernel.unpack(ours.params)["nugget"]
    # The field's SD (0.21 beside a nugget SD of 1.06) is flat in the likelihood: the
    # two optima agree to 2e-4; the model is the same to 1e-10 at the core's estimates.
    np.testing.assert_allclose(
        [ours.sd * np.sqrt(1 - g), ours.sd * np.sqrt(g)], [sd_field, sd_pos], rtol=1e-3
    )
    s2 = sd_field**2 + sd_pos**2
    z = np.concatenate(
        [
            core.fixef.to_numpy(),
            [0.5 * np.log(s2), np.asarray(glmmtmb_theta(core))[1]],
            [np.log(sd_pos**2 / sd_field**2)],
        ]
    )
    assert -ours._problem.objective(z) == pytest.approx(core.loglik, rel=1e-10)
    table = ours.structure_parameters().set_index("term")["estimate"]
    assert table["nugget"] == pytest.approx(g)
    # Nested: without the nugget no better (here a short range mimics the nugget).
    assert spatial_glmm("y ~ x", d, ["gx", "gy"], m=u - 1).loglik <= ours.loglik + 1e-6


def _dense_laplace(y, X, loc, C, beta, s2):
    """``log L`` (Laplace) of a Poisson GLMM with the field ``N(0, s2 C)``, dense."""
    u = C.shape[0]
    Ci = np.linalg.inv(C) / s2
    w = np.zeros(u)
    for _ in range(50):
        mu = np.exp(X @ beta + w[loc])
        g = np.bincount(loc, y - mu, u) - Ci @ w
        H = np.diag(np.bincount(loc, mu, u)) + Ci
        w = w + np.linalg.solve(H, g)
    eta = X @ beta + w[loc]
    mu = np.exp(eta)
    ll = np.sum(y * eta - mu - special.gammaln(y + 1))
    H = np.diag(np.bincount(loc, mu, u)) + Ci
    return (
        ll - 0.5 * w @ Ci @ w - 0.5 * np.linalg.slogdet(s2 * C)[1] - 0.5 * np.linalg.slogdet(H)[1]
    )


def test_anisotropy_at_m_u_minus_1_is_the_dense_laplace(sim):
    xy = sim[["gx", "gy"]].to_numpy()
    y = sim["yp"].to_numpy(float)
    X = np.column_stack([np.ones(len(sim)), sim["x"]])
    fit = spatial_glmm("yp ~ x", sim, ["gx", "gy"], m=24, anisotropy=True)
    assert fit.converged
    v = fit.kernel.unpack(fit.params)
    A = anisotropy_matrix(v["angle"], v["ratio"])
    locs, loc = np.unique(xy, axis=0, return_inverse=True)
    diff = locs[:, None, :] - locs[None, :, :]
    dist = np.sqrt(np.einsum("ijk,kl,ijl->ij", diff, A, diff))
    dense = _dense_laplace(
        y, X, loc.ravel(), np.exp(-dist / v["range"]), fit.fixef.to_numpy(), fit.sd**2
    )
    assert fit.loglik == pytest.approx(dense, rel=1e-9)
    # Nested: at least the isotropic exact fit (the core's).
    core = mm.glmm("yp ~ x + exp(pos + 0 | group)", sim, family="poisson")
    assert fit.loglik >= core.loglik - 1e-6
    table = fit.structure_parameters().set_index("term")["estimate"]
    assert table["aniso.ratio"] == pytest.approx(v["ratio"])
    # The analytic gradient (with the anisotropy's derivatives) reaches the same optimum.
    grad = spatial_glmm("yp ~ x", sim, ["gx", "gy"], m=24, anisotropy=True, gradient=True)
    assert grad.loglik == pytest.approx(fit.loglik, rel=1e-7)


@pytest.mark.parametrize(("family", "y", "log_fp"), [("nbinom2", "yn", 0.4), ("Gamma", "yg", -1.2)])
def test_analytic_gradient_with_a_family_parameter(sim, family, y, log_fp):
    xy = sim[["gx", "gy"]].to_numpy()
    kernel = make_kernel("exponential", xy)
    X = np.column_stack([np.ones(len(sim)), sim["x"]])
    P = _Problem(family, kernel, latent_plan(xy, 8), sim[y].to_numpy(float), X, np.ones(len(sim)))
    z = np.array([0.9, 0.7, -0.2, 0.1, log_fp])
    value, grad = P.value_and_gradient(z)
    assert value == pytest.approx(P.objective(z), rel=1e-10)
    h = 1e-3
    num = []
    for j in range(z.size):
        e = np.zeros(z.size)
        e[j] = h
        f = [P.objective(z + c * e) for c in (-2, -1, 1, 2)]
        num.append((f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h))
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-6)
    # The fit driven by it reaches the difference-driven fit's optimum.
    fits = [
        spatial_glmm(f"{y} ~ x", sim, ["gx", "gy"], family=family, m=10, gradient=g)
        for g in (True, False)
    ]
    assert fits[0].loglik == pytest.approx(fits[1].loglik, rel=1e-8)
    np.testing.assert_allclose(fits[0].z, fits[1].z, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("option", ["nugget", "anisotropy"])
def test_analytic_gradient_with_nugget_and_anisotropy(sim, option):
    xy = sim[["gx", "gy"]].to_numpy()
    kernel = make_kernel("exponential", xy, **{option: True})
    lp = latent_plan(xy, 8)
    X = np.column_stack([np.ones(len(sim)), sim["x"]])
    P = _Problem("poisson", kernel, lp, sim["yp"].to_numpy(float), X, np.ones(len(sim)))
    extra = [-0.8] if option == "nugget" else [0.7, 0.5]
    z = np.array([0.3, 0.7, -0.2, 0.1, *extra])
    value, grad = P.value_and_gradient(z)
    assert value == pytest.approx(P.objective(z), rel=1e-10)
    h = 1e-3
    num = []
    for j in range(z.size):
        e = np.zeros(z.size)
        e[j] = h
        f = [P.objective(z + c * e) for c in (-2, -1, 1, 2)]
        num.append((f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h))
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-6)


def test_families_bad_input(sim):
    with pytest.raises(ValueError, match=r"families .*inverse_gaussian"):
        spatial_glmm("yg ~ x", sim, ["gx", "gy"], family="inverse_gaussian")
    with pytest.raises(ValueError, match=r"links \['log'\]; got link='inverse'"):
        spatial_glmm("yg ~ x", sim, ["gx", "gy"], family="Gamma", link="inverse")
    with pytest.raises(ValueError, match="Gamma response must be positive"):
        spatial_glmm("yb ~ x", sim, ["gx", "gy"], family="Gamma")
    with pytest.raises(ValueError, match="analytic gradient needs"):
        spatial_glmm(
            "yn ~ x", sim, ["gx", "gy"], family="nbinom2", gradient=True, information="expected"
        )
    with pytest.raises(ValueError, match="information must be"):
        spatial_glmm("yb ~ x", sim, ["gx", "gy"], family="binomial", information="fisher")
    with pytest.raises(ValueError, match="two Euclidean coordinates"):
        spatial_glmm("yp ~ x", sim, ["gx"], anisotropy=True)


def test_great_circle_field_is_the_dense_laplace():
    from mixedmodels_spatial._distance import distances

    rng = np.random.default_rng(12)
    u = 20
    lonlat = np.column_stack([rng.uniform(-10, 10, u), rng.uniform(40, 55, u)])
    site = np.repeat(np.arange(u), 5)
    D = distances(lonlat, lonlat, "great_circle")
    w = np.linalg.cholesky(np.exp(-D / 400.0) + 1e-10 * np.eye(u)) @ rng.normal(size=u)
    d = pd.DataFrame({"lon": lonlat[site, 0], "lat": lonlat[site, 1], "x": rng.normal(size=100)})
    d["y"] = rng.poisson(np.exp(0.3 + 0.4 * d["x"] + w[site]))
    fit = spatial_glmm("y ~ x", d, ["lon", "lat"], m=u - 1, metric="great_circle")
    assert fit.converged
    locs, loc = np.unique(d[["lon", "lat"]].to_numpy(), axis=0, return_inverse=True)
    C = np.exp(-distances(locs, locs, "great_circle") / fit.kernel.unpack(fit.params)["range"])
    X = np.column_stack([np.ones(100), d["x"]])
    dense = _dense_laplace(
        d["y"].to_numpy(float), X, loc.ravel(), C, fit.fixef.to_numpy(), fit.sd**2
    )
    assert fit.loglik == pytest.approx(dense, rel=1e-9)
    assert 50.0 < fit.structure_parameters().set_index("term")["estimate"]["range"] < 5000.0
    new = pd.DataFrame({"lon": [0.0, 5.0], "lat": [47.0, 50.0], "x": [0.0, 0.0]})
    assert np.all(np.isfinite(fit.predict(new)["se"]))
    with pytest.raises(ValueError, match="lat"):
        fit.predict(new.assign(lat=[95.0, 50.0]))


def test_offset_is_honoured_in_the_fit_and_in_predict(sim):
    # spatial_glmm ignored an offset() term before (fixed part X beta only).
    d = sim.assign(t=np.random.default_rng(3).uniform(0.5, 3.0, len(sim)))
    core = mm.glmm("yp ~ x + offset(log(t)) + exp(pos + 0 | group)", d, family="poisson")
    ours = spatial_glmm("yp ~ x + offset(log(t))", d, ["gx", "gy"], m=24)
    assert ours.loglik == pytest.approx(core.loglik, rel=1e-8)
    np.testing.assert_allclose(ours.fixef, core.fixef, rtol=1e-4)
    new = d.iloc[:2]
    twice = ours.predict(new.assign(t=2.0 * new["t"]))["fit"] - ours.predict(new)["fit"]
    np.testing.assert_allclose(twice, np.log(2.0), rtol=1e-12)
