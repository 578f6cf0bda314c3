"""The families' optional higher derivatives (the third in ``mu``, those in
``log(phi)``) against central differences of their first two derivatives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from mixedmodels_families._registry import FAMILIES

BY_NAME = {f.name: f for f in FAMILIES}

COUNTS = (np.array([0.0, 1.0, 3.0, 7.0, 0.0, 12.0]), np.array([0.4, 1.3, 2.5, 6.0, 3.0, 9.0]))
CASES = {
    "nbinom2": COUNTS,
    "nbinom1": COUNTS,
    "genpois": COUNTS,
    "beta": (np.array([0.05, 0.3, 0.5, 0.8, 0.97]), np.array([0.1, 0.4, 0.6, 0.7, 0.9])),
    "tmb_gaussian": (np.array([-1.5, 0.2, 3.0, 7.5]), np.array([0.0, 1.0, 2.5, 6.0])),
    "tweedie": (np.array([0.0, 0.4, 1.3, 5.0, 0.0]), np.array([0.3, 0.5, 1.7, 4.0, 2.0])),
    "truncated_nbinom2": (
        np.array([1.0, 1.0, 3.0, 7.0, 2.0]),
        np.array([0.3, 1.3, 2.5, 6.0, 9.0]),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("phi0", [0.7, 3.0])
def test_higher_derivatives_match_differences(name: str, phi0: float) -> None:
    fam = BY_NAME[name]()
    y, mu = CASES[name]
    phi = np.full(y.size, phi0)
    shape = fam.shape_start()
    full = fam.logpdf_higher_derivatives(y, mu, phi, shape)
    assert full is not None
    ll, d1, d2, d3, dphi = full
    # the first three as logpdf_derivatives gives them
    for got, want in zip((ll, d1, d2), fam.logpdf_derivatives(y, mu, phi, shape), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    assert d3 is not None
    h = 1e-5
    _, _, up2 = fam.logpdf_derivatives(y, mu + h, phi, shape)
    _, _, dn2 = fam.logpdf_derivatives(y, mu - h, phi, shape)
    np.testing.assert_allclose(d3, (up2 - dn2) / (2 * h), rtol=1e-6, atol=1e-8)
    assert dphi is not None
    up = fam.logpdf_derivatives(y, mu, phi * np.exp(h), shape)
    dn = fam.logpdf_derivatives(y, mu, phi * np.exp(-h), shape)
    for got, a, b in zip(dphi, up, dn, strict=True):
        np.testing.assert_allclose(got, (a - b) / (2 * h), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("psi", [-1.0, 0.0, 1.3])
@pytest.mark.parametrize("phi0", [0.7, 3.0])
def test_tweedie_shape_derivatives_match_differences(psi: float, phi0: float) -> None:
    """Tweedie's derivatives in ``psi`` (power ``1 + plogis(psi)``), the series' part
    from its terms' means, against central differences of its first two derivatives."""
    fam = BY_NAME["tweedie"]()
    y = np.array([0.0, 0.4, 1.3, 5.0, 0.0, 12.0, 0.02])
    mu = np.array([0.3, 0.5, 1.7, 4.0, 2.0, 9.0, 0.1])
    phi = np.full(y.size, phi0)
    got = fam.logpdf_shape_derivatives(y, mu, phi, np.array([psi]))
    assert got is not None and len(got) == 1
    h = 1e-5
    up = fam.logpdf_derivatives(y, mu, phi, np.array([psi + h]))
    dn = fam.logpdf_derivatives(y, mu, phi, np.array([psi - h]))
    for g, a, b in zip(got[0], up, dn, strict=True):
        np.testing.assert_allclose(g, (a - b) / (2 * h), rtol=1e-6, atol=1e-8)


def test_shape_derivatives_composed_with_zero_inflation() -> None:
    """The engine's rows: the extra parameters' derivatives chained through the link and
    composed with zero inflation (and prior weights' scaling left to the engine) match
    central differences of the rows' ``ll``, ``d_c`` and ``d_cc`` in ``psi``."""
    from mixedmodels.generalized.conditional import row_loglik
    from mixedmodels.plugin_manager import manager

    fam = BY_NAME["tweedie"]()
    y = np.array([0.0, 0.4, 1.3, 5.0, 0.0, 12.0, 0.0])
    eta = np.log(np.array([0.3, 0.5, 1.7, 4.0, 2.0, 9.0, 0.1]))
    eta_zi = np.array([-1.0, 0.3, -0.5, 0.0, 1.2, -2.0, 0.4])
    phi = np.full(y.size, 1.4)
    link = manager.get_link("log")
    psi = np.array([0.4])
    r = row_loglik(fam, link, y, eta, phi, psi, eta_zi, higher=True)
    assert r.shape_d is not None
    h = 1e-5
    up = row_loglik(fam, link, y, eta, phi, psi + h, eta_zi)
    dn = row_loglik(fam, link, y, eta, phi, psi - h, eta_zi)
    for got, name in zip(r.shape_d[0], ("ll", "d_c", "d_cc"), strict=True):
        want = (getattr(up, name) - getattr(dn, name)) / (2 * h)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_truncated_higher_derivatives_in_a_hurdle() -> None:
    """A hurdle's rows with the truncated family's higher derivatives: the third in
    ``eta`` and those in ``log(phi)`` on the positive counts, 0 at the zeros, against
    central differences of the rows' ``d_cc``, ``ll`` and ``d_c``."""
    from mixedmodels.generalized.conditional import row_loglik
    from mixedmodels.plugin_manager import manager

    fam = BY_NAME["truncated_nbinom2"]()
    link = manager.get_link("log")
    y = np.array([0.0, 1.0, 3.0, 0.0, 7.0, 2.0, 1.0])
    eta = np.log(np.array([0.4, 1.3, 2.5, 3.0, 6.0, 9.0, 0.3]))
    eta_zi = np.array([-1.0, 0.3, -0.5, 0.0, 1.2, -2.0, 0.4])
    phi = np.array([0.7, 0.7, 2.0, 2.0, 3.0, 1.1, 1.5])
    shape = np.zeros(0)
    r = row_loglik(fam, link, y, eta, phi, shape, eta_zi, higher=True)
    assert r.d_ccc is not None and r.ll_p is not None
    assert r.d_c_p is not None and r.d_cc_p is not None
    h = 1e-5

    def at(e: np.ndarray, p: np.ndarray) -> Any:
        return row_loglik(fam, link, y, e, p, shape, eta_zi)

    up, dn = at(eta + h, phi), at(eta - h, phi)
    np.testing.assert_allclose(r.d_ccc, (up.d_cc - dn.d_cc) / (2 * h), rtol=1e-6, atol=1e-8)
    up, dn = at(eta, phi * np.exp(h)), at(eta, phi * np.exp(-h))
    zero = y == 0
    for got, name in zip((r.ll_p, r.d_c_p, r.d_cc_p), ("ll", "d_c", "d_cc"), strict=True):
        a, b = getattr(up, name), getattr(dn, name)
        want = np.where(zero, 0.0, (a - b) / (2 * h))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(r.d_ccc[zero], 0.0)
