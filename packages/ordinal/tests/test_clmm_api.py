"""Output, prediction and bad input of clmm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mixedmodels_ordinal import clmm

import mixedmodels as mm

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def fit(wine):
    return clmm("rating ~ temp + contact + (1 | judge)", wine, data_name="wine")


def test_summary_layout_is_ordinals(fit):
    ours = fit.summary().splitlines()
    r = (REF / "summary_clmm_wine_logit_laplace.txt").read_text().splitlines()
    # Every line is R's but the info line (niter, max.grad and cond.H depend on the
    # optimiser) and the standard errors' last digit (ordinal's finite-difference
    # Hessian differs by ~1e-4, see the reference tests): in the coefficient tables,
    # names and estimates are compared, z values to the last printed digit.
    assert len(ours) == len(r)
    for i, (a, b) in enumerate(zip(ours, r, strict=True)):
        if i in (5, 6):
            continue
        if i in (15, 16, 22, 23, 24, 25):
            ta, tb = a.split(), b.split()
            assert [ta[0], ta[1]] == [tb[0], tb[1]], (i, a, b)
            assert float(ta[3]) == pytest.approx(float(tb[3]), abs=1.5e-3)
        else:
            assert a.rstrip() == b.rstrip(), (i, a, b)
    assert ours[6].split()[:5] == r[6].split()[:5]


def test_tidy_has_coef_type(fit):
    tab = mm.tidy(fit)
    assert list(tab.columns) == [
        "term",
        "estimate",
        "std.error",
        "statistic",
        "p.value",
        "coef.type",
    ]
    assert tab["coef.type"].tolist() == ["intercept"] * 4 + ["location"] * 2
    g = mm.glance(fit)
    assert g["logLik"].iloc[0] == pytest.approx(fit.loglik)
    ci = mm.tidy(fit, conf_int=True)
    assert (ci["conf.low"] < ci["estimate"]).all()


def test_predicted_probabilities(fit, wine):
    p = fit.predict()
    assert p.shape == (72, 5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # the probability of the observed category is the fitted value
    obs = p.to_numpy()[np.arange(72), wine["rating"].cat.codes.to_numpy()]
    np.testing.assert_allclose(obs, fit.fitted().to_numpy(), rtol=1e-12)
    # newdata, conditional and population level; a new judge gets the population value
    new = wine.head(3).drop(columns="rating")
    np.testing.assert_allclose(fit.predict(new).to_numpy(), p.to_numpy()[:3], rtol=1e-12)
    pop = fit.predict(new, re_form="~0")
    new2 = new.assign(judge=pd.Categorical(["99"] * 3))
    np.testing.assert_allclose(fit.predict(new2).to_numpy(), pop.to_numpy(), rtol=1e-12)
    assert list(fit.predict(new, type="class").astype(str)) == ["3", "3", "3"]
    cum = fit.predict(new, type="cum.prob").to_numpy()
    np.testing.assert_allclose(
        np.diff(np.column_stack([np.zeros(3), cum]), axis=1), p.to_numpy()[:3]
    )


def test_unordered_response_says_how_to_order(wine):
    d = wine.copy()
    d["rating"] = d["rating"].astype(str).astype("category")
    with pytest.raises(ValueError, match=r"unordered factor.*ordered=True"):
        clmm("rating ~ temp + (1 | judge)", d)
    d["rating"] = d["rating"].astype(int)
    with pytest.raises(ValueError, match=r"'rating' is of type int64.*pd.Categorical"):
        clmm("rating ~ temp + (1 | judge)", d)


def test_category_that_never_occurs(wine):
    d = wine.copy()
    d["rating"] = pd.Categorical(
        d["rating"].astype(str), categories=["0", *list("12345")], ordered=True
    )
    with pytest.raises(ValueError, match=r"level\(s\) \['0'\] never occur.*remove_unused"):
        clmm("rating ~ temp + (1 | judge)", d)


def test_other_bad_input(wine):
    with pytest.raises(ValueError, match="unknown link 'logistic'"):
        clmm("rating ~ temp + (1 | judge)", wine, link="logistic")
    with pytest.raises(ValueError, match="unknown threshold"):
        clmm("rating ~ temp + (1 | judge)", wine, threshold="free")
    with pytest.raises(ValueError, match="single scalar random-effect term"):
        clmm("rating ~ temp + (1 | judge) + (1 | bottle)", wine, nAGQ=5)
    with pytest.raises(ValueError, match="at least one random-effect term"):
        clmm("rating ~ temp", wine)
    with pytest.raises(ValueError, match="column 'nope' not found"):
        clmm("nope ~ temp + (1 | judge)", wine)


def test_thresholds_structures(wine):
    eq = clmm("rating ~ temp + (1 | judge)", wine, threshold="equidistant")
    th = eq.thresholds.to_numpy()
    np.testing.assert_allclose(np.diff(th), eq.alpha["spacing"])
    sym = clmm("rating ~ temp + (1 | judge)", wine, threshold="symmetric")
    th = sym.thresholds.to_numpy()
    # five levels: four thresholds symmetric about the mean of the middle two
    assert th[0] + th[3] == pytest.approx(th[1] + th[2])


def test_conformance_kit(wine):
    from mixedmodels_ordinal import ClmmEstimator

    from mixedmodels.testing import check_estimator

    def factory(seed):
        d = wine.copy()
        d["score"] = d["rating"].cat.codes + 1
        if seed is not None:
            d = d.iloc[np.random.default_rng(seed).permutation(len(d))]
        return mm.Model("score ~ temp + contact + (1 | judge)", d)

    check_estimator(ClmmEstimator(), factory)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog", "loglog", "cauchit"])
def test_exact_laplace_gradient_matches_differences(wine, link):
    from mixedmodels_ordinal._criterion import laplace_gradient
    from mixedmodels_ordinal._fit import _gradient

    fit = clmm("rating ~ temp + contact + (1 | judge)", wine, link=link, threshold="equidistant")
    pb = fit._problem
    par = fit._outcome.par + 0.1  # away from the optimum, where the gradient is not zero
    exact = laplace_gradient(pb, par, pb.mode(par))
    numeric = _gradient(lambda p: pb.laplace(p), par)
    np.testing.assert_allclose(exact, numeric, atol=5e-5 * max(1.0, np.abs(numeric).max()))


def test_clmm_convergence_warning_is_the_core_s_convergence_warning():
    from mixedmodels_ordinal import ClmmConvergenceWarning

    import mixedmodels as mm

    # Users filter mm.ConvergenceWarning for every engine; clmm's must be caught too.
    assert issubclass(ClmmConvergenceWarning, mm.ConvergenceWarning)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_exact_agq_gradient_matches_differences(wine, link):
    from mixedmodels_ordinal._criterion import agq_gradient
    from mixedmodels_ordinal._fit import _gradient

    fit = clmm("rating ~ temp + contact + (1 | judge)", wine, link=link)
    pb = fit._problem
    x, w = np.polynomial.hermite.hermgauss(10)
    par = fit._outcome.par + 0.1
    exact = agq_gradient(pb, par, pb.mode(par, tol=1e-12), x, w)
    numeric = _gradient(lambda p: pb.agq(p, x, w), par)
    np.testing.assert_allclose(exact, numeric, atol=1e-6 * max(1.0, np.abs(numeric).max()))


@pytest.mark.parametrize("link", ["logit", "probit", "cauchit"])
def test_exact_gradients_with_prior_weights_match_differences(wine, link):
    # the row-level gradients scale each row's derivatives by its weight
    from mixedmodels_ordinal._criterion import agq_gradient, laplace_gradient
    from mixedmodels_ordinal._fit import _gradient

    d = wine.copy()
    d["wt"] = np.random.default_rng(3).uniform(0.5, 2.0, len(d))
    fit = clmm("rating ~ temp + contact + (1 | judge)", d, link=link, weights="wt")
    pb = fit._problem
    par = fit._outcome.par + 0.1
    exact = laplace_gradient(pb, par, pb.mode(par, tol=1e-12))
    numeric = _gradient(lambda p: pb.laplace(p), par)
    np.testing.assert_allclose(exact, numeric, atol=5e-6 * max(1.0, np.abs(numeric).max()))
    x, w = np.polynomial.hermite.hermgauss(7)
    exact = agq_gradient(pb, par, pb.mode(par, tol=1e-12), x, w)
    numeric = _gradient(lambda p: pb.agq(p, x, w), par)
    np.testing.assert_allclose(exact, numeric, atol=5e-6 * max(1.0, np.abs(numeric).max()))


@pytest.mark.parametrize("link", ["logit", "cloglog"])
def test_batched_modes_and_gradients_equal_one_at_a_time(wine, link):
    # the Hessian's k differences are evaluated as one (rows x k) batch
    from mixedmodels_ordinal._criterion import agq_gradient_at, laplace_gradient_at

    fit = clmm("rating ~ temp + contact + (1 | judge)", wine, link=link)
    pb = fit._problem
    par = fit._outcome.par
    centre = pb.mode(par, tol=1e-12)
    P = par[None, :] + np.diag(np.full(par.size, 1e-4))
    U, (e1f, e2f), dv = pb.modes_batch(P, np.repeat(centre.u[:, None], par.size, axis=1))
    x, w = np.polynomial.hermite.hermgauss(5)
    G = laplace_gradient_at(pb, P, U, e1f, e2f, dv)
    V, GA = agq_gradient_at(pb, P, U, e1f, e2f, dv, x, w)
    for i in range(par.size):
        m = pb.mode(P[i], u0=centre.u, tol=1e-12)
        np.testing.assert_allclose(U[:, i], m.u, atol=1e-9)
        g0 = laplace_gradient_at(pb, P[i], m.u, *m.extra["eta"])
        np.testing.assert_allclose(G[i], g0, rtol=1e-7, atol=1e-9)
        v1, g1 = agq_gradient_at(pb, P[i], m.u, *m.extra["eta"], None, x, w)
        assert V[i] == pytest.approx(v1, rel=1e-13)
        np.testing.assert_allclose(GA[i], g1, rtol=1e-7, atol=1e-9)
    # far from the centre's mode the batch declines (the caller goes one by one)
    assert pb.modes_batch(P + 0.5, np.repeat(centre.u[:, None], par.size, axis=1)) is None


@pytest.mark.parametrize(
    ("formula", "link", "weighted"),
    [
        ("rating ~ temp + contact + (1 | judge) + (1 | bottle)", "probit", False),
        ("rating ~ temp + contact + (1 | judge) + (1 | bottle)", "logit", True),
        ("rating ~ contact + (1 | judge/temp)", "cloglog", False),
    ],
)
def test_exact_gradient_of_several_scalar_terms_matches_differences(wine, formula, link, weighted):
    from mixedmodels_ordinal._criterion import laplace_gradient_terms
    from mixedmodels_ordinal._fit import _gradient

    d = wine.copy()
    d["bottle"] = d["bottle"].astype("category")
    d["wt"] = np.random.default_rng(5).uniform(0.5, 2.0, len(d)) if weighted else 1.0
    fit = clmm(formula, d, link=link, weights="wt")
    pb = fit._problem
    assert pb.scalar_terms
    par = fit._outcome.par.copy()
    par[pb.n_alpha + pb.n_beta :] = np.log(0.7)  # off the boundary, away from the optimum
    par[: pb.n_alpha + pb.n_beta] += 0.1
    exact = laplace_gradient_terms(pb, par, pb.mode(par, tol=1e-12))
    numeric = _gradient(lambda p: pb.laplace(p), par)
    np.testing.assert_allclose(exact, numeric, atol=1e-6 * max(1.0, np.abs(numeric).max()))
