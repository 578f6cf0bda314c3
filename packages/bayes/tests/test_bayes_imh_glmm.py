"""``sampler="collapsed_imh"`` for GLMMs with one scalar random-effect term: the random
effects integrated out by adaptive Gauss-Hermite quadrature (``_quadrature.py``).

The marginal is checked against scipy's adaptive integration level by level, the
row derivatives against differences, the conditional draws of the random effects
against the numerically integrated conditional distribution, and the posterior against
brms's cbpp reference case at the issue's MCSE tolerances.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from bayes_refcheck import compare, load_case
from mixedmodels_bayes._estimator import _options
from mixedmodels_bayes._quadrature import QuadratureTarget, _derivatives, _loglik
from scipy import integrate, stats

import mixedmodels as mm

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp():
    return mm.datasets.load("cbpp")


def _target(formula, data, family, priors=None, **kw):
    model = mm.Model(formula, data, family=family, **kw)
    _, bd, ps, _ = _options(model, {"priors": priors, "sampler": "collapsed_imh"})
    return QuadratureTarget(bd, ps)


@pytest.fixture(scope="module")
def counts():
    """Simulated counts and positive responses with one grouping factor."""
    rng = np.random.default_rng(11)
    g = rng.integers(0, 9, 150)
    x = rng.standard_normal(150)
    u = 0.6 * rng.standard_normal(9)
    mu = np.exp(0.4 + 0.3 * x + u[g])
    return pd.DataFrame(
        {
            "g": g.astype(str),
            "x": x,
            "y": rng.negative_binomial(3.0, 3.0 / (3.0 + mu)),
            "pos": rng.gamma(2.0, mu / 2.0),
        }
    )


def _brute_log_marginal(target, phi):
    """Sum over levels of log ∫ p(y_g | z) phi(z) dz by scipy.integrate.quad."""
    theta, _ = target.constrain(phi[None, :])
    a, b, shape = target._rows(theta)
    total = 0.0
    for g in range(target.G):
        rows = target.codes == g
        y = target.y[rows]
        t = None if target.trials is None else target.trials[rows]
        mode = target._modes(a, b, shape)[0][0, g]

        def loglik(z, rows=rows, y=y, t=t):
            eta = a[0, rows] + b[0, rows] * z
            return np.sum(_loglik(target.family, target.link, y, t, eta, shape[0, 0]))

        # the integrand is scaled by its value at the mode to keep quad in range
        c = loglik(mode)

        def scaled(z, loglik=loglik, c=c):
            return np.exp(loglik(z) - c) * stats.norm.pdf(z)

        val, _ = integrate.quad(scaled, mode - 12, mode + 12, epsabs=0, epsrel=1e-13, limit=200)
        total += c + np.log(val)
    return total


@pytest.mark.parametrize(
    "case",
    ["binomial_logit", "binomial_probit", "binomial_cloglog", "poisson", "nbinom", "gamma"],
)
def test_marginal_equals_adaptive_integration(case, cbpp, counts):
    if case.startswith("binomial"):
        link = case.split("_")[1]
        target = _target(CBPP, cbpp, "binomial", link=link)
    elif case == "poisson":
        target = _target("y ~ x + (1 | g)", counts, "poisson")
    elif case == "nbinom":
        target = _target("y ~ x + (1 | g)", counts, "negative_binomial")
    else:
        target = _target("pos ~ x + (1 | g)", counts, "Gamma", link="log")
    phi = target.start()
    phi[target.slices["sd_0"]] = np.log(0.8)
    theta, _ = target.constrain(phi[None, :])
    a, b, shape = target._rows(theta)
    ours = float(np.sum(target._log_marginal(a, b, shape)[0]))
    assert ours == pytest.approx(_brute_log_marginal(target, phi), rel=1e-10, abs=1e-9)
    # 25 nodes against 50: the quadrature error is far below anything a chain can see
    fine = QuadratureTarget(target.bd, target.ps, nodes=50)
    fine_val = float(np.sum(fine._log_marginal(a, b, shape)[0]))
    assert abs(ours - fine_val) < 1e-9


@pytest.mark.parametrize(
    "family,link",
    [
        ("binomial", "logit"),
        ("binomial", "probit"),
        ("binomial", "cloglog"),
        ("poisson", "log"),
        ("negative_binomial", "log"),
        ("Gamma", "log"),
    ],
)
def test_row_derivatives_match_differences(family, link):
    rng = np.random.default_rng(3)
    eta = rng.uniform(-2.5, 2.5, 40)
    if family == "binomial":
        t = rng.integers(1, 20, 40).astype(float)
        y = np.floor(rng.uniform(0, 1, 40) * (t + 1))
    elif family == "Gamma":
        t, y = None, rng.gamma(2.0, 1.0, 40)
    else:
        t, y = None, rng.poisson(3.0, 40).astype(float)
    shape = 2.5
    d1, d2 = _derivatives(family, link, y, t, eta, shape)
    h = 1e-5
    f = lambda e: _loglik(family, link, y, t, e, shape)  # noqa: E731
    np.testing.assert_allclose(d1, (f(eta + h) - f(eta - h)) / (2 * h), rtol=1e-6, atol=1e-7)
    g = lambda e: _derivatives(family, link, y, t, e, shape)[0]  # noqa: E731
    np.testing.assert_allclose(d2, (g(eta + h) - g(eta - h)) / (2 * h), rtol=1e-6, atol=1e-7)
    # the log-likelihood is concave in eta: what the quadrature and the draws rely on
    assert np.all(d2 <= 0)


def test_conditional_draws_follow_the_conditional(cbpp):
    """20,000 draws of one herd's z from one state against its CDF by quadrature."""
    target = _target(CBPP, cbpp, "binomial")
    phi = target.start()
    phi[target.slices["sd_0"]] = np.log(0.9)
    _, _, states = target.evaluate(phi[None, :])
    draws = target.draw(states * 20_000, np.random.default_rng(4))
    a, b, _, mode, s = states[0]
    herd = 3
    rows = target.codes == herd

    def log_density(z):
        eta = a[rows] + b[rows] * z
        ll = np.sum(_loglik("binomial", "logit", target.y[rows], target.trials[rows], eta, 1.0))
        return ll - 0.5 * z * z

    top = log_density(mode[herd])
    norm, _ = integrate.quad(lambda z: np.exp(log_density(z) - top), -15, 15, epsrel=1e-12)

    def cdf(x):
        return np.array(
            [
                integrate.quad(lambda z: np.exp(log_density(z) - top), -15, v, epsrel=1e-10)[0]
                / norm
                for v in np.atleast_1d(x)
            ]
        )

    # a binned chi-square test against the exact bin probabilities (seeded: fixed outcome)
    edges = np.quantile(draws[:, herd], np.linspace(0, 1, 21))
    edges[0], edges[-1] = -15.0, 15.0
    probs = np.diff(cdf(edges))
    counts, _ = np.histogram(draws[:, herd], edges)
    chi2 = np.sum((counts - 20_000 * probs) ** 2 / (20_000 * probs))
    assert stats.chi2.sf(chi2, 19) > 0.001
    # every level's draws have the conditional mean's sign and spread about the mode
    assert np.all(np.abs(draws.mean(axis=0) - mode) < 0.5 * s + 0.05)


def test_cbpp_matches_brms_reference(cbpp):
    case = load_case("brms_cbpp_binomial_ranint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fit = mm.Model(CBPP, cbpp, family="binomial").fit(
            method="nuts",
            priors=case["priors_brms"],
            chains=4,
            draws=10_000,
            warmup=1000,
            seed=20240702,
            sampler="collapsed_imh",
            progress=False,
        )
    assert fit.sampler == "collapsed_imh"
    failures = compare(fit, case)
    assert not failures, "\n".join(failures)
    info = fit.sampler_info
    assert info["evaluations"] >= 4 * 11_000 and info["mean_acceptance"] > 0.5


@pytest.mark.filterwarnings("ignore::mixedmodels_bayes.SamplingWarning")
def test_same_seed_same_draws(cbpp):
    kw = dict(chains=2, draws=200, warmup=100, sampler="collapsed_imh", progress=False)
    a = mm.Model(CBPP, cbpp, family="binomial").fit(method="nuts", seed=7, **kw)
    b = mm.Model(CBPP, cbpp, family="binomial").fit(method="nuts", seed=7, **kw)
    np.testing.assert_array_equal(a.draws["r_0"], b.draws["r_0"])
    np.testing.assert_array_equal(a.draws["sd_0"], b.draws["sd_0"])


def test_models_it_cannot_take_are_refused_before_sampling(cbpp, counts):
    two = "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | period)"
    with pytest.raises(ValueError, match="one random-effect term with one column"):
        mm.Model(two, cbpp, family="binomial").fit(method="nuts", sampler="collapsed_imh")
    with pytest.raises(ValueError, match="family poisson/identity"):
        mm.Model("y ~ x + (1 | g)", counts, family="poisson", link="identity").fit(
            method="nuts", sampler="collapsed_imh"
        )


def test_extreme_proposals_have_zero_density_not_an_error(cbpp):
    target = _target(CBPP, cbpp, "binomial")
    phis = np.tile(target.start(), (3, 1))
    phis[1, target.slices["sd_0"]] = 400.0  # an SD that overflows
    phis[2, target.slices["beta_s"]] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lp, _, _ = target.evaluate(phis)
    assert np.isfinite(lp[0]) and np.all(lp[1:] == -np.inf)


def test_binomial_predictions_for_newdata_use_its_trials(cbpp):
    # predict(newdata) took one trial per row whatever the cbind() columns said, so
    # cbpp's predicted counts were 0/1 draws (brms reads the trials from new data)
    fit = mm.Model(CBPP, cbpp, family="binomial").fit(
        method="nuts",
        chains=2,
        draws=200,
        warmup=200,
        seed=3,
        sampler="collapsed_imh",
        progress=False,
        warn=False,
    )
    np.testing.assert_allclose(fit.posterior_epred(cbpp), fit.posterior_epred(), rtol=1e-12)
    np.testing.assert_allclose(fit.fitted(cbpp)["Estimate"], fit.fitted()["Estimate"])
    draws = fit.predict(cbpp, summary=False, seed=1)
    assert draws.max() > 1 and np.all(draws <= cbpp["size"].to_numpy()[None, :])
    one = fit.posterior_epred(cbpp, trials=1)
    np.testing.assert_allclose(one * cbpp["size"].to_numpy()[None, :], fit.posterior_epred())
    with pytest.raises(ValueError, match="gives the binomial trials"):
        fit.predict(cbpp.drop(columns=["incidence", "size"]))
