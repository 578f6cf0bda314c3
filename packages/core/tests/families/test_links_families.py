"""Built-in links and families: conformance, and agreement with R's definitions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from mixedmodels import _builtin
from mixedmodels.families import (
    BUILTIN_FAMILIES,
    Binomial,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
)

# Private: the links' numerical guards (EPS, thresholds) are tested.
from mixedmodels.families.links import (
    BUILTIN_LINKS,
    EPS,
    CauchitLink,
    CloglogLink,
    IdentityLink,
    InverseLink,
    InverseSquaredLink,
    LogitLink,
    LogLink,
    ProbitLink,
    SqrtLink,
)
from mixedmodels.interfaces import Family, Link
from mixedmodels.testing import check_family, check_link

LINKS_BY_NAME = {cls.name: cls for cls in BUILTIN_LINKS}
FAMILY_LINK_PAIRS = [(cls, name) for cls in BUILTIN_FAMILIES for name in cls.links]


# -- conformance -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", BUILTIN_LINKS, ids=lambda c: c.name)
def test_builtin_link_passes_check(cls: type[Link]) -> None:
    check_link(cls())


@pytest.mark.parametrize("cls", [IdentityLink, InverseLink], ids=lambda c: c.name)
def test_links_defined_for_negative_means_pass_there(cls: type[Link]) -> None:
    check_link(cls(), mu=[-50.0, -3.0, -1.0, -0.2, -0.01])


@pytest.mark.parametrize(
    ("cls", "link"), FAMILY_LINK_PAIRS, ids=[f"{c.name}-{n}" for c, n in FAMILY_LINK_PAIRS]
)
def test_builtin_family_passes_check_with_each_link(cls: type[Family], link: str) -> None:
    check_family(cls(), link)


@pytest.mark.parametrize("theta", [0.5, 3.0, 50.0])
def test_negative_binomial_passes_check_for_several_theta(theta: float) -> None:
    check_family(NegativeBinomial(theta))


def test_builtin_names() -> None:
    assert [c.name for c in BUILTIN_LINKS] == [
        "identity",
        "log",
        "logit",
        "probit",
        "cloglog",
        "cauchit",
        "inverse",
        "sqrt",
        "1/mu^2",
    ]
    assert [c.name for c in BUILTIN_FAMILIES] == [
        "gaussian",
        "binomial",
        "poisson",
        "Gamma",
        "inverse_gaussian",
        "negative_binomial",
    ]


def test_every_family_link_is_builtin() -> None:
    for cls in BUILTIN_FAMILIES:
        assert cls.default_link in cls.links
        assert set(cls.links) <= set(LINKS_BY_NAME), cls.name


def test_builtin_hooks_return_instances() -> None:
    links = _builtin.mixedmodels_links()
    families = _builtin.mixedmodels_families()
    assert all(isinstance(x, Link) for x in links) and len(links) == len(BUILTIN_LINKS)
    assert all(isinstance(x, Family) for x in families) and len(families) == 6


# -- links: R's numerical guards -------------------------------------------------------


def test_logit_thresholds_as_r() -> None:
    link = LogitLink()
    mu = link.inverse(np.array([-40.0, -30.5, 30.5, 40.0, 0.0]))
    np.testing.assert_array_equal(mu[:2], EPS / (1 + EPS))
    np.testing.assert_array_equal(mu[2:4], 1 / (1 + EPS))
    assert mu[4] == 0.5
    np.testing.assert_array_equal(link.mu_eta(np.array([-31.0, 31.0])), EPS)
    # Full precision near 0 and 1.
    np.testing.assert_allclose(link.link(np.array([1e-20])), np.log(1e-20), rtol=1e-14)
    np.testing.assert_allclose(link.inverse(np.array([-25.0])), np.exp(-25.0), rtol=1e-10)


def test_probit_and_cauchit_clip_to_eps() -> None:
    p = ProbitLink().inverse(np.array([-40.0, 40.0]))
    np.testing.assert_allclose(p, [EPS, 1 - EPS], rtol=1e-12)
    np.testing.assert_array_equal(ProbitLink().mu_eta(np.array([50.0])), EPS)
    c = CauchitLink()
    np.testing.assert_allclose(c.inverse(np.array([-1e300])), EPS, rtol=1e-10)
    # Accurate in the lower tail, where 0.5 + arctan(eta) / pi would cancel.
    np.testing.assert_allclose(c.inverse(np.array([-1e10])), 1 / (np.pi * 1e10), rtol=1e-10)
    np.testing.assert_allclose(c.link(np.array([1e-10])), -1 / (np.pi * 1e-10), rtol=1e-10)
    np.testing.assert_allclose(c.link(np.array([0.5, 0.75])), [0.0, 1.0], atol=1e-15)


def test_cloglog_bounds_as_r() -> None:
    link = CloglogLink()
    np.testing.assert_array_equal(
        link.inverse(np.array([-50.0, 5.0, 1000.0])), [EPS, 1 - EPS, 1 - EPS]
    )
    np.testing.assert_array_equal(link.mu_eta(np.array([800.0, -50.0])), EPS)
    np.testing.assert_allclose(link.inverse(np.array([0.0])), 1 - np.exp(-1.0), rtol=1e-15)


def test_log_link_floor_and_overflow() -> None:
    link = LogLink()
    np.testing.assert_array_equal(link.inverse(np.array([-800.0])), EPS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(link.inverse(np.array([800.0]))[0])


def test_power_links_and_valid_eta() -> None:
    eta = np.array([-1.0, 0.0, 4.0, np.inf])
    np.testing.assert_array_equal(SqrtLink().valid_eta(eta), [False, False, True, False])
    np.testing.assert_array_equal(InverseSquaredLink().valid_eta(eta), [False, False, True, False])
    np.testing.assert_array_equal(InverseLink().valid_eta(eta), [True, False, True, False])
    np.testing.assert_allclose(InverseSquaredLink().inverse(np.array([4.0])), [0.5])
    np.testing.assert_allclose(InverseSquaredLink().mu_eta(np.array([4.0])), [-1 / 16])


def test_links_accept_scalars_and_keep_shape() -> None:
    for cls in BUILTIN_LINKS:
        link = cls()
        assert np.ndim(link.inverse(link.link(np.asarray(0.3)))) == 0
        assert link.mu_eta(np.full((2, 3), 0.7)).shape == (2, 3)


# -- families: R's deviance, aic and simulate ------------------------------------------


def test_unit_deviances_match_r_formulas() -> None:
    y = np.array([0.0, 0.3, 1.0])
    mu = np.array([0.4, 0.5, 0.9])
    ylogy = np.where(y == 0, 0, y * np.log(np.where(y == 0, 1, y) / mu))
    omy = np.where(y == 1, 0, (1 - y) * np.log(np.where(y == 1, 1, (1 - y)) / (1 - mu)))
    np.testing.assert_allclose(Binomial().unit_deviance(y, mu), 2 * (ylogy + omy))
    yc = np.array([0.0, 3.0, 7.0])
    muc = np.array([2.0, 3.5, 5.0])
    pois = 2 * (np.where(yc == 0, 0, yc * np.log(np.where(yc == 0, 1, yc) / muc)) - (yc - muc))
    np.testing.assert_allclose(Poisson().unit_deviance(yc, muc), pois)
    assert Poisson().unit_deviance(np.array([0.0]), np.array([2.0]))[0] == 4.0
    yp = np.array([0.5, 2.0, 7.0])
    np.testing.assert_allclose(
        Gamma().unit_deviance(yp, muc), -2 * (np.log(yp / muc) - (yp - muc) / muc)
    )
    np.testing.assert_allclose(
        InverseGaussian().unit_deviance(yp, muc), (yp - muc) ** 2 / (yp * muc**2)
    )
    th = 2.5
    nb = 2 * (
        np.where(yc == 0, 0, yc * np.log(np.maximum(1, yc) / muc))
        - (yc + th) * np.log((yc + th) / (muc + th))
    )
    np.testing.assert_allclose(NegativeBinomial(th).unit_deviance(yc, muc), nb)
    np.testing.assert_allclose(Gaussian().unit_deviance(yp, muc), (yp - muc) ** 2)


def test_loglik_matches_scipy_distributions() -> None:
    rng = np.random.default_rng(1)
    y = rng.gamma(2.0, 1.0, 8)
    mu = rng.gamma(2.0, 1.0, 8)
    w = rng.integers(1, 5, 8).astype(float)
    phi = 0.6
    np.testing.assert_allclose(
        Gaussian().loglik(y, mu, w, phi), stats.norm.logpdf(y, mu, np.sqrt(phi / w))
    )
    np.testing.assert_allclose(
        Gamma().loglik(y, mu, w, phi), w * stats.gamma.logpdf(y, a=1 / phi, scale=mu * phi)
    )
    lam = 1 / phi
    np.testing.assert_allclose(
        InverseGaussian().loglik(y, mu, w, phi),
        w * stats.invgauss.logpdf(y, mu / lam, scale=lam),
    )
    counts = rng.poisson(3.0, 8).astype(float)
    np.testing.assert_allclose(
        Poisson().loglik(counts, mu, w), w * stats.poisson.logpmf(counts, mu)
    )
    nb = NegativeBinomial(1.7)
    np.testing.assert_allclose(
        nb.loglik(counts, mu, w), w * stats.nbinom.logpmf(counts, 1.7, 1.7 / (1.7 + mu))
    )
    trials = np.array([1.0, 5.0, 10.0, 3.0])
    succ = np.array([1.0, 2.0, 0.0, 3.0])
    p = np.array([0.3, 0.5, 0.1, 0.8])
    np.testing.assert_allclose(
        Binomial().loglik(succ / trials, p, trials), stats.binom.logpmf(succ, trials, p)
    )


def test_minus_twice_loglik_is_r_aic() -> None:
    # R's gaussian()$aic and Gamma()$aic (without the + 2) at the moment estimate of the
    # dispersion that R uses.
    rng = np.random.default_rng(2)
    y = rng.normal(3.0, 1.0, 20)
    mu = y + rng.normal(0.0, 0.5, 20)
    wt = rng.uniform(0.5, 2.0, 20)
    dev = np.sum(wt * (y - mu) ** 2)
    n = y.size
    r_aic = n * (np.log(2 * np.pi * dev / n) + 1) - np.sum(np.log(wt))
    np.testing.assert_allclose(-2 * Gaussian().loglik(y, mu, wt, dev / n).sum(), r_aic)
    yp = np.abs(y)
    mup = np.abs(mu)
    devg = np.sum(wt * Gamma().unit_deviance(yp, mup))
    disp = devg / wt.sum()
    r_gamma = -2 * np.sum(stats.gamma.logpdf(yp, 1 / disp, scale=mup * disp) * wt)
    np.testing.assert_allclose(-2 * Gamma().loglik(yp, mup, wt, disp).sum(), r_gamma)
    devi = np.sum(wt * InverseGaussian().unit_deviance(yp, mup))
    r_ig = wt.sum() * (np.log(devi / wt.sum() * 2 * np.pi) + 1) + 3 * np.sum(np.log(yp) * wt)
    np.testing.assert_allclose(
        -2 * InverseGaussian().loglik(yp, mup, wt, devi / wt.sum()).sum(), r_ig
    )


def test_loglik_outside_support_is_minus_inf() -> None:
    assert Poisson().loglik(np.array([-1.0, 1.5]), np.array([2.0, 2.0])).tolist() == [
        -np.inf,
        -np.inf,
    ]
    assert np.isneginf(Gamma().loglik(np.array([0.0]), np.array([1.0]))[0])
    assert np.isneginf(Binomial().loglik(np.array([2.0]), np.array([0.5]))[0])
    # A zero weight drops the observation (R's aic), even when y is off the support.
    assert Poisson().loglik(np.array([-1.0]), np.array([2.0]), np.array([0.0]))[0] == 0.0


def test_binomial_simulate_uses_trials() -> None:
    rng = np.random.default_rng(3)
    mu = np.full(20_000, 0.3)
    y = Binomial().simulate(mu, rng, np.full(20_000, 10.0))
    assert np.all(np.isclose(y * 10, np.round(y * 10)))
    assert abs(y.mean() - 0.3) < 5 * np.sqrt(0.21 / 10 / 20_000)
    assert abs(y.var() - 0.021) < 0.002
    with pytest.raises(ValueError, match="non-integer"):
        Binomial().simulate(np.array([0.5]), rng, np.array([2.5]))


def test_gamma_and_inverse_gaussian_simulate_use_weights_as_precision() -> None:
    rng = np.random.default_rng(4)
    mu = np.full(40_000, 2.0)
    w = np.full(40_000, 4.0)
    g = Gamma().simulate(mu, rng, w, 0.5)
    np.testing.assert_allclose(g.var(), 0.5 * 4.0 / 4.0, rtol=0.05)
    ig = InverseGaussian().simulate(mu, rng, w, 0.5)
    np.testing.assert_allclose(ig.var(), 0.5 * 8.0 / 4.0, rtol=0.08)


def test_poisson_and_nb_simulate_warn_that_weights_are_ignored() -> None:
    rng = np.random.default_rng(5)
    with pytest.warns(UserWarning, match="ignores prior weights"):
        Poisson().simulate(np.array([1.0]), rng, np.array([2.0]))
    with pytest.warns(UserWarning, match="ignores prior weights"):
        NegativeBinomial().simulate(np.array([1.0]), rng, np.array([2.0]))


def test_starting_mu_as_r_initialize() -> None:
    y = np.array([0.0, 0.5, 1.0])
    w = np.array([1.0, 4.0, 2.0])
    np.testing.assert_allclose(Binomial().starting_mu(y, w), (w * y + 0.5) / (w + 1))
    np.testing.assert_allclose(Poisson().starting_mu(np.array([0.0, 3.0])), [0.1, 3.1])
    np.testing.assert_allclose(NegativeBinomial().starting_mu(np.array([0.0, 3.0])), [1 / 6, 3.0])
    np.testing.assert_allclose(Gamma().starting_mu(np.array([2.0])), [2.0])
    np.testing.assert_allclose(Gaussian().starting_mu(np.array([-2.0])), [-2.0])


def test_valid_mu() -> None:
    mu = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan])
    np.testing.assert_array_equal(Binomial().valid_mu(mu), [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(Poisson().valid_mu(mu), [0, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(Gaussian().valid_mu(mu), [1, 1, 1, 1, 1, 0])


# -- families: validate_response messages ----------------------------------------------


@pytest.mark.parametrize("cls", [Poisson, NegativeBinomial])
def test_count_families_reject_negative_and_fractional_counts(cls: type[Family]) -> None:
    fam = cls()
    with pytest.raises(ValueError, match=r"2 response values are negative.*first: -1\.0"):
        fam.validate_response(np.array([1.0, -1.0, 2.0, -3.0]))
    with pytest.raises(ValueError, match=r"1 response value is not a whole number.*first: 2\.5"):
        fam.validate_response(np.array([1.0, 2.5]))
    with pytest.raises(ValueError, match="not finite"):
        fam.validate_response(np.array([1.0, np.nan]))
    fam.validate_response(np.array([0.0, 4.0]))


def test_binomial_validate_response() -> None:
    fam = Binomial()
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*successes cannot exceed trials"):
        fam.validate_response(np.array([0.5, 1.5]), np.array([2.0, 2.0]))
    with pytest.raises(ValueError, match=r"first: -0\.1"):
        fam.validate_response(np.array([-0.1]))
    with pytest.warns(
        UserWarning, match="1 response value gives a non-integer number of successes"
    ):
        fam.validate_response(np.array([0.3]), np.array([2.0]))
    with pytest.raises(ValueError, match="prior weight"):
        fam.validate_response(np.array([0.5]), np.array([-2.0]))
    fam.validate_response(np.array([0.0, 0.5, 1.0]), np.array([1.0, 4.0, 3.0]))


@pytest.mark.parametrize("cls", [Gamma, InverseGaussian])
def test_positive_families_reject_non_positive(cls: type[Family]) -> None:
    with pytest.raises(
        ValueError, match=r"1 response value is not positive \(first: 0\.0 at position 1\)"
    ):
        cls().validate_response(np.array([1.0, 0.0]))


def test_negative_binomial_theta() -> None:
    nb = NegativeBinomial(2.0)
    np.testing.assert_allclose(nb.variance(np.array([4.0])), [4.0 + 16.0 / 2.0])
    assert nb.with_theta(5.0).theta == 5.0 and nb.theta == 2.0
    assert "theta=2" in repr(nb)
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="theta"):
            NegativeBinomial(bad)
    # The Poisson is the limit theta -> infinity.
    y = np.array([0.0, 2.0, 5.0])
    mu = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        NegativeBinomial(1e7).loglik(y, mu), Poisson().loglik(y, mu), rtol=1e-5
    )


def test_deviance_residuals_from_base_class() -> None:
    y = np.array([0.0, 3.0])
    mu = np.array([1.0, 2.0])
    d = Poisson().deviance_residuals(y, mu)
    np.testing.assert_allclose(d**2, Poisson().unit_deviance(y, mu))
    assert d[0] < 0 < d[1]
