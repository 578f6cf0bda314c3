"""The vectorised trigamma of the families' second derivatives against scipy's."""

import numpy as np
import pytest
from mixedmodels_families._base import tetragamma, trigamma
from scipy.special import polygamma


def test_trigamma_matches_scipy_across_scales() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [np.logspace(-8, 8, 2001), rng.uniform(0, 20, 500), np.arange(1.0, 40.0), [9.999, 10.0]]
    )
    np.testing.assert_allclose(trigamma(x), polygamma(1, x), rtol=1e-13, atol=0)


def test_tetragamma_matches_scipy_across_scales() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate(
        [np.logspace(-8, 8, 2001), rng.uniform(0, 20, 500), np.arange(1.0, 40.0), [9.999, 10.0]]
    )
    np.testing.assert_allclose(tetragamma(x), polygamma(2, x), rtol=1e-13, atol=0)
    assert tetragamma(np.array([[0.5, 3.0], [12.0, 1e4]])).shape == (2, 2)


def test_trigamma_keeps_shape_and_scalars() -> None:
    x = np.array([[0.5, 3.0], [12.0, 1e4]])
    assert trigamma(x).shape == (2, 2)
    np.testing.assert_allclose(float(trigamma(np.float64(1.0))), np.pi**2 / 6, rtol=1e-15)


def test_nbinom2_cached_terms_follow_the_dispersion_and_response() -> None:
    """The mu-free terms are kept for the last (y, size): changing either recomputes."""
    from mixedmodels_families._counts import NBinom2Family
    from scipy.stats import nbinom

    fam = NBinom2Family()
    rng = np.random.default_rng(3)
    y = rng.poisson(3.0, 50).astype(float)
    mu = rng.uniform(0.5, 6.0, 50)
    for size, yy in ((2.0, y), (2.0, y), (0.7, y), (0.7, y + 1.0), (2.0, y)):
        phi = np.full(50, size)
        want = nbinom.logpmf(yy, size, size / (size + mu))
        np.testing.assert_allclose(fam.logpdf(yy, mu, phi, np.zeros(0)), want, rtol=1e-12)
        np.testing.assert_allclose(
            fam.logpdf_derivatives(yy, mu, phi, np.zeros(0))[0], want, rtol=1e-12
        )


@pytest.mark.parametrize("p", [1.01, 1.2, 1.5, 1.95])
@pytest.mark.parametrize("phi", [0.01, 0.5, 20.0])
def test_tweedie_series_window_loses_nothing(p: float, phi: float) -> None:
    """The series over its window equals the sum over every j up to far beyond it."""
    from mixedmodels_families._tweedie_series import tweedie_log_series
    from scipy.special import gammaln, logsumexp

    y = np.logspace(-4, 2, 40)
    alpha = (2.0 - p) / (1.0 - p)
    c = -alpha * np.log(y) + alpha * np.log(p - 1.0) - (1.0 - alpha) * np.log(phi)
    c = c - np.log(2.0 - p)
    jmax = y ** (2.0 - p) / (phi * (2.0 - p))
    j = np.arange(1.0, float(np.ceil(3 * jmax.max() + 60 * np.sqrt(jmax.max()) + 200)))
    logw = j[None, :] * c[:, None] - gammaln(j + 1.0)[None, :] - gammaln(-j * alpha)[None, :]
    want = logsumexp(logw, axis=1) - np.log(y)
    got = tweedie_log_series(y, np.full(y.size, phi), p)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_tweedie_series_on_distinct_responses_equals_every_row() -> None:
    """With a constant dispersion the family sums the series on the distinct positive
    responses only: the same values, bit for bit, as on every row; a dispersion that
    varies by row, or a new response, is summed on its own rows."""
    from mixedmodels_families._continuous import TweedieFamily
    from mixedmodels_families._tweedie_series import tweedie_series_terms

    rng = np.random.default_rng(3)
    y = rng.integers(1, 12, 300) / rng.integers(1, 5, 300)  # repeated values
    fam = TweedieFamily()
    for phi in (np.full(y.size, 1.3), rng.uniform(0.5, 2.0, y.size), np.full(y.size, 0.4)):
        got = fam._series(y, phi, 1.3)
        want = tweedie_series_terms(y, phi, 1.3)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    y2 = y[::-1].copy()
    for a, b in zip(
        fam._series(y2, np.full(y.size, 1.3), 1.4),
        tweedie_series_terms(y2, np.full(y.size, 1.3), 1.4),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_tweedie_kept_series_follows_its_arrays() -> None:
    """The series kept for read-only response and dispersion arrays (the engine's inner
    iterations) is used only for those same arrays and power: other arrays, powers or
    writeable copies give the values computed afresh."""
    from mixedmodels_families._continuous import TweedieFamily

    rng = np.random.default_rng(4)
    y = np.where(rng.random(200) < 0.3, 0.0, rng.gamma(2.0, 1.0, 200))
    y.flags.writeable = False
    mu = rng.uniform(0.5, 3.0, 200)
    fam, fresh = TweedieFamily(), TweedieFamily()
    for phi0, psi in ((1.3, 0.0), (1.3, 0.0), (1.3, -0.8), (0.6, -0.8), (0.6, -0.8)):
        phi = np.full(200, phi0)
        phi.flags.writeable = False
        for m in (mu, mu * 1.5):
            got = fam.logpdf(y, m, phi, np.array([psi]))
            want = fresh.logpdf(y.copy(), m, phi.copy(), np.array([psi]))
            np.testing.assert_array_equal(got, want)
