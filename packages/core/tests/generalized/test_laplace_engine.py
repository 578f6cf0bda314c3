"""The general Laplace engine on a conditional family defined here (a Poisson): the same
Laplace log-likelihood as glmer's path, derivatives of the zero-inflated row
log-likelihood against finite differences, and the blocked and dense inner solvers
agreeing."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from scipy.special import gammaln

import mixedmodels as mm
from mixedmodels.generalized.components import build_components
from mixedmodels.generalized.conditional import row_loglik
from mixedmodels.generalized.laplace_engine import LaplaceProblem, _Blocked, _Dense
from mixedmodels.interfaces import ConditionalFamily
from mixedmodels.model import Model
from mixedmodels.plugin_manager import manager


class _Poisson(ConditionalFamily):
    name: ClassVar[str] = "test_poisson"
    default_link = "log"
    links = ("log", "sqrt")
    has_dispersion = False
    has_dispersion_predictor = False
    support = "count"

    def logpdf(self, y, mu, phi, shape):  # type: ignore[no-untyped-def]
        return y * np.log(mu) - mu - gammaln(y + 1.0)

    def logpdf_derivatives(self, y, mu, phi, shape):  # type: ignore[no-untyped-def]
        return self.logpdf(y, mu, phi, shape), y / mu - 1.0, -y / mu**2

    def response_mean(self, mu, phi, shape):  # type: ignore[no-untyped-def]
        return mu

    def response_variance(self, mu, phi, shape):  # type: ignore[no-untyped-def]
        return mu

    def starting_mu(self, y, weights=None):  # type: ignore[no-untyped-def]
        return np.asarray(y, float) + 0.1

    def sample(self, mu, phi, shape, rng):  # type: ignore[no-untyped-def]
        return rng.poisson(mu).astype(float)


@pytest.fixture(scope="module")
def ticks():  # type: ignore[no-untyped-def]
    return mm.datasets.load("grouseticks")


def test_same_laplace_loglik_as_glmer_path(ticks) -> None:  # type: ignore[no-untyped-def]
    """For a canonical-link Poisson the observed and expected information agree, so
    glmmTMB's Laplace (nothing profiled) and glmer's reach one optimum."""
    formula = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)"
    ref = mm.glmm(formula, ticks, family="poisson")
    fit = Model(formula, ticks, family=_Poisson()).fit()
    assert type(fit).__name__ == "TMBResult"
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-7)
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=2e-4, atol=1e-5)
    ref_sd = {g: float(np.sqrt(c.to_numpy()[0, 0])) for g, c in ref.covariance_matrices().items()}
    for g, c in fit.covariance_matrices().items():
        assert float(np.sqrt(c.to_numpy()[0, 0])) == pytest.approx(ref_sd[g], rel=1e-3)
    np.testing.assert_allclose(fit.fixef_se.to_numpy(), ref.fixef_se.to_numpy(), rtol=2e-3)


@pytest.mark.parametrize("truncated", [False, True])
def test_zero_inflated_row_derivatives(truncated: bool) -> None:
    fam = _Poisson()
    if truncated:
        fam.truncated = True  # type: ignore[misc]
    link = manager.get_link("log")
    rng = np.random.default_rng(1)
    n = 200
    y = rng.poisson(1.0, n).astype(float)
    if truncated:
        y[y == 0] = np.where(rng.random(int(np.sum(y == 0))) < 0.5, 0.0, 1.0)
    eta = rng.normal(0.0, 0.7, n)
    ez = rng.normal(-0.5, 1.0, n)
    args = (fam, link, y)
    ones, shape = np.ones(n), np.zeros(0)
    r = row_loglik(*args, eta, ones, shape, ez)
    h = 1e-5

    def ll(e: np.ndarray, z: np.ndarray) -> np.ndarray:
        return row_loglik(*args, e, ones, shape, z).ll

    def d_c(e: np.ndarray, z: np.ndarray) -> np.ndarray:
        return row_loglik(*args, e, ones, shape, z).d_c

    def d_z(e: np.ndarray, z: np.ndarray) -> np.ndarray:
        return row_loglik(*args, e, ones, shape, z).d_z  # type: ignore[return-value]

    np.testing.assert_allclose(r.d_c, (ll(eta + h, ez) - ll(eta - h, ez)) / (2 * h), atol=1e-7)
    np.testing.assert_allclose(r.d_z, (ll(eta, ez + h) - ll(eta, ez - h)) / (2 * h), atol=1e-7)
    np.testing.assert_allclose(r.d_cc, (d_c(eta + h, ez) - d_c(eta - h, ez)) / (2 * h), atol=1e-6)
    np.testing.assert_allclose(r.d_zz, (d_z(eta, ez + h) - d_z(eta, ez - h)) / (2 * h), atol=1e-6)
    np.testing.assert_allclose(r.d_cz, (d_c(eta, ez + h) - d_c(eta, ez - h)) / (2 * h), atol=1e-6)

    def d_cc(e: np.ndarray, z: np.ndarray) -> np.ndarray:
        return row_loglik(*args, e, ones, shape, z).d_cc

    # the analytic cross third derivative the gradient uses instead of differences
    assert r.d_ccz is not None
    want = (d_cc(eta, ez + h) - d_cc(eta, ez - h)) / (2 * h)
    np.testing.assert_allclose(r.d_ccz, want, atol=1e-6)
    assert np.any(np.abs(want) > 1e-2) or truncated


def test_blocked_and_dense_solvers_agree(ticks) -> None:  # type: ignore[no-untyped-def]
    model = Model("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", ticks, family=_Poisson())
    problem = LaplaceProblem(model.y, model.family, build_components(model))
    assert isinstance(problem.solver, _Blocked)
    x = problem.start()
    x[problem.blocks["theta"].start :] = [0.8, 0.4]
    blocked = problem.inner(x)
    problem.solver = _Dense([problem.components["cond"].terms], problem.n)
    problem.u = np.zeros(problem.q)
    dense = problem.inner(x)
    assert dense.objective == pytest.approx(blocked.objective, rel=1e-12)
    np.testing.assert_allclose(dense.u, blocked.u, atol=1e-8)


def test_conditional_family_requires_ziformula_for_zeros_when_truncated(ticks) -> None:  # type: ignore[no-untyped-def]
    fam = _Poisson()
    fam.truncated = True  # type: ignore[misc]
    model = Model("TICKS ~ YEAR + (1 | BROOD)", ticks, family=fam)
    with pytest.raises(ValueError, match=r"zero-truncated.*TICKS.*ziformula"):
        build_components(model)


def test_prior_weights_as_glmer(ticks) -> None:  # type: ignore[no-untyped-def]
    """Prior weights multiply each row's log-likelihood (glmmTMB's ``weights``), which
    for a Poisson is also glmer's weighted Laplace likelihood."""
    formula = "TICKS ~ YEAR + (1 | LOCATION)"
    w = np.resize([1.0, 2.0, 0.5], len(ticks))
    ref = mm.glmm(formula, ticks, family="poisson", weights=w)
    fit = Model(formula, ticks, family=_Poisson(), weights=w).fit()
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-6)
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=2e-4, atol=1e-5)
    unweighted = Model(formula, ticks, family=_Poisson()).fit()
    assert abs(unweighted.loglik - fit.loglik) > 1.0


def test_predict_newdata(ticks) -> None:  # type: ignore[no-untyped-def]
    formula = "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)"
    fit = Model(formula, ticks, family=_Poisson()).fit()
    for type in ("link", "response"):
        np.testing.assert_allclose(
            fit.predict(type, newdata=ticks).to_numpy(), fit.predict(type).to_numpy()
        )
    new = ticks.iloc[:4].copy()
    new["BROOD"] = new["BROOD"].astype(str)
    new.loc[new.index[1], "BROOD"] = "never seen"
    with pytest.raises(ValueError, match=r"1 rows with levels of 'BROOD' not seen"):
        fit.predict("link", newdata=new)
    got = fit.predict("link", newdata=new, allow_new_levels=True).to_numpy()
    # the new brood's row: the fixed part plus its location's mode only
    loc = fit.ranef()["LOCATION"]["(Intercept)"]
    fixed = fit.predict("link", re_form="NA", newdata=new).to_numpy()
    row = new.iloc[1]
    assert got[1] == pytest.approx(fixed[1] + loc[str(row["LOCATION"])], rel=1e-12)
    np.testing.assert_allclose(got[[0, 2, 3]], fit.predict("link").to_numpy()[[0, 2, 3]])


class _NB2Higher(_Poisson):
    """An NB2 (size ``phi``) giving the optional higher derivatives."""

    name: ClassVar[str] = "test_nb2_higher"
    has_dispersion = True
    has_dispersion_predictor = True

    def logpdf(self, y, mu, phi, shape):  # type: ignore[no-untyped-def]
        k = phi
        return (
            gammaln(y + k)
            - gammaln(k)
            - gammaln(y + 1.0)
            + k * np.log(k / (k + mu))
            + y * np.log(mu / (k + mu))
        )

    def logpdf_derivatives(self, y, mu, phi, shape):  # type: ignore[no-untyped-def]
        k = phi
        d1 = y / mu - (y + k) / (k + mu)
        d2 = -y / mu**2 + (y + k) / (k + mu) ** 2
        return self.logpdf(y, mu, phi, shape), d1, d2

    def logpdf_higher_derivatives(self, y, mu, phi, shape):  # type: ignore[no-untyped-def]
        from scipy.special import digamma

        k, sm = phi, phi + mu
        d3 = 2.0 * y / mu**3 - 2.0 * (y + k) / sm**3
        lp = k * (digamma(y + k) - digamma(k) + np.log(k / sm) + (mu - y) / sm)
        l1p = k * (y - mu) / sm**2
        l2p = k * (mu - k - 2.0 * y) / sm**3
        return (*self.logpdf_derivatives(y, mu, phi, shape), d3, (lp, l1p, l2p))


@pytest.mark.parametrize("zero_inflated", [False, True])
def test_higher_row_derivatives_composed(zero_inflated: bool) -> None:
    """The third derivative in ``eta`` and the derivatives in ``log(phi)`` that
    ``row_loglik(higher=True)`` composes (link, zero inflation) against central
    differences of the composed first and second derivatives."""
    fam = _NB2Higher()
    link = manager.get_link("log")
    rng = np.random.default_rng(2)
    n = 300
    y = rng.negative_binomial(2.0, 0.4, n).astype(float)
    eta = rng.normal(0.5, 0.7, n)
    ez = rng.normal(-0.5, 1.0, n) if zero_inflated else None
    logphi = rng.normal(0.3, 0.4, n)
    shape = np.zeros(0)

    def rows(e: np.ndarray, lp: np.ndarray, higher: bool = False):  # type: ignore[no-untyped-def]
        return row_loglik(fam, link, y, e, np.exp(lp), shape, ez, higher=higher)

    r = rows(eta, logphi, higher=True)
    assert r.d_ccc is not None and r.ll_p is not None
    assert r.d_c_p is not None and r.d_cc_p is not None
    h = 1e-5
    up, dn = rows(eta + h, logphi), rows(eta - h, logphi)
    np.testing.assert_allclose(r.d_ccc, (up.d_cc - dn.d_cc) / (2 * h), rtol=1e-6, atol=1e-7)
    up, dn = rows(eta, logphi + h), rows(eta, logphi - h)
    np.testing.assert_allclose(r.ll_p, (up.ll - dn.ll) / (2 * h), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(r.d_c_p, (up.d_c - dn.d_c) / (2 * h), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(r.d_cc_p, (up.d_cc - dn.d_cc) / (2 * h), rtol=1e-6, atol=1e-7)
    # the zeros' composition differs from the count density's own derivatives
    if zero_inflated:
        plain = fam.logpdf_higher_derivatives(y, np.exp(eta), np.exp(logphi), shape)
        assert np.max(np.abs(r.ll_p - plain[4][0])) > 1e-3
