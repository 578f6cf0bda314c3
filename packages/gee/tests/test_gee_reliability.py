"""Issue 12: the gee plugin's errors and warnings are the core's classes."""

from __future__ import annotations

import warnings

import pytest
from gee_helpers import dataset
from mixedmodels_gee import GEEConvergenceWarning, GEEError, gee

import mixedmodels as mm


def test_classes_join_the_core_hierarchy() -> None:
    assert issubclass(GEEError, mm.ModelSpecificationError)
    assert issubclass(GEEConvergenceWarning, mm.ConvergenceWarning)


def test_one_cluster_is_refused_with_the_reason() -> None:
    # Was blamed on the working correlation (or gave zero standard errors).
    d = dataset("ohio").assign(one="a")
    for corstr in ("exchangeable", "ar1", "independence"):
        with pytest.raises(mm.ModelSpecificationError, match=r"one cluster .* at least two"):
            gee("resp ~ age + smoke", d, groups="one", family="binomial", corstr=corstr)


def test_non_convergence_warns_once_as_a_convergence_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = gee(
            "resp ~ age + smoke",
            dataset("ohio"),
            groups="id",
            family="binomial",
            corstr="exchangeable",
            maxiter=1,
        )
    assert not fit.converged
    conv = [w for w in caught if issubclass(w.category, mm.ConvergenceWarning)]
    assert len(conv) == 1
    assert "did not converge" in str(conv[0].message)
    assert "did not converge" in fit.summary()
