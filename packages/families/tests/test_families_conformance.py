"""Every family of the plugin passes the core's conformance kit."""

from __future__ import annotations

import numpy as np
import pytest
from mixedmodels_families import FAMILIES

from mixedmodels.testing import check_family, family_checks


@pytest.mark.parametrize("cls", FAMILIES, ids=lambda c: c.name)
def test_family_conforms(cls: type) -> None:
    family = cls()
    if family.uses_trials:  # the beta-binomial, checked with 7 trials
        family = family.bind_trials(np.array(7.0))
    check_family(family)


def test_kit_lists_the_conditional_checks() -> None:
    names = [n for n, _ in family_checks(FAMILIES[0]())]
    assert "derivatives" in names and "logpdf normalised" in names


def test_kit_catches_a_wrong_derivative() -> None:
    """A family whose second derivative is off fails the kit, naming the check."""
    from mixedmodels_families import NBinom2Family

    class Broken(NBinom2Family):
        name = "broken_nb2"

        def logpdf_derivatives(self, y, mu, phi, shape):  # type: ignore[no-untyped-def]
            ll, d1, d2 = super().logpdf_derivatives(y, mu, phi, shape)
            return ll, d1, 1.1 * d2

    with pytest.raises(AssertionError, match="derivatives"):
        check_family(Broken())


def test_kit_catches_a_wrong_variance() -> None:
    from mixedmodels_families import NBinom1Family

    class Broken(NBinom1Family):
        name = "broken_nb1"

        def response_variance(self, mu, phi, shape):  # type: ignore[no-untyped-def]
            return mu * (1.0 + phi) ** 2

    with pytest.raises(AssertionError, match="simulate moments"):
        check_family(Broken())


def test_kit_counts_the_point_masses_of_the_ordered_beta() -> None:
    """The correct ordered beta sums to one only with its point masses at 0 and 1
    (support ``"unit_closed"``, above); one whose density inside (0, 1) is 10% short
    (the derivatives unchanged) fails."""
    from mixedmodels_families import OrdBetaFamily

    class Broken(OrdBetaFamily):
        name = "broken_ordbeta"

        def logpdf_derivatives(self, y, mu, phi, shape):  # type: ignore[no-untyped-def]
            ll, d1, d2 = super().logpdf_derivatives(y, mu, phi, shape)
            inside = (np.asarray(y) > 0) & (np.asarray(y) < 1)
            return np.where(inside, ll + np.log(0.9), ll), d1, d2

    with pytest.raises(AssertionError, match="logpdf normalised"):
        check_family(Broken())


def test_kit_sums_the_beta_binomial_over_its_trials() -> None:
    from mixedmodels_families import BetaBinomialFamily

    class Broken(BetaBinomialFamily):
        name = "broken_betabinomial"

        def logpdf(self, y, mu, phi, shape):  # type: ignore[no-untyped-def]
            return super().logpdf(y, mu, phi, shape) + 0.01

    with pytest.raises(AssertionError, match="logpdf normalised"):
        check_family(Broken().bind_trials(np.array(7.0)))
