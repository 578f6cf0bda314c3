from __future__ import annotations

import numpy as np
import pytest
from mixedmodels_pql import check_variance_function, glmmPQL
from pql_testdata import cbpp

from mixedmodels.interfaces import Family


class NoVariance(Family):
    """A family that cannot give its variance function."""

    name = "novariance"
    default_link = "identity"
    links = ("identity",)

    def variance(self, mu):
        raise NotImplementedError

    def unit_deviance(self, y, mu):
        return (y - mu) ** 2

    def loglik(self, y, mu, weights=None, dispersion=1.0):
        return -0.5 * np.sum((y - mu) ** 2)

    def simulate(self, mu, rng, weights=None, dispersion=1.0):
        return mu


def test_family_without_variance_function():
    with pytest.raises(ValueError, match="'novariance' has no variance function, which PQL needs"):
        check_variance_function(NoVariance())


def test_random_needs_a_group():
    with pytest.raises(ValueError, match="grouping factor"):
        glmmPQL("cbind(incidence, size - incidence) ~ period", "~ 1", "binomial", cbpp())


def test_unknown_option():
    import mixedmodels as mm

    model = mm.Model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp(), family="binomial"
    )
    with pytest.raises(TypeError, match="unknown option"):
        model.fit(method="pql", bogus=1)


def test_too_few_iterations_warn_as_a_convergence_warning():
    from mixedmodels_pql import PQLConvergenceWarning

    import mixedmodels as mm

    # One iteration cannot settle the working response; a filter on the core's
    # ConvergenceWarning (as for lme4-style fits) must catch it.
    with pytest.warns(mm.ConvergenceWarning, match="niter") as record:
        glmmPQL(
            "cbind(incidence, size - incidence) ~ period", "~ 1 | herd", "binomial", cbpp(), niter=1
        )
    assert any(issubclass(w.category, PQLConvergenceWarning) for w in record)
