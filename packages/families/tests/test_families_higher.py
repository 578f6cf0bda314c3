"""The families' optional higher derivatives (the third in ``mu``, those in
``log(phi)``) against central differences of their first two derivatives."""

from __future__ import annotations

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
