"""mixedmodels.extending: the public building blocks plugins use."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels import extending


def test_parallel_map_is_ordered_and_independent_of_workers():
    def task(i: int) -> float:
        return float(np.random.default_rng([7, i]).normal())

    one = extending.parallel_map(task, 40, n_jobs=1)
    two = extending.parallel_map(task, 40, n_jobs=2)
    assert one == two and len(one) == 40


def test_fixed_term_assignment_matches_r_assign():
    data = mm.datasets.load("cbpp")
    fit = mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", data, family="binomial"
    )
    ta = extending.fixed_term_assignment(fit)
    assert ta.labels == ["period"] and ta.has_intercept
    assert ta.assign.tolist() == [-1, 0, 0, 0]  # R: attr(X, "assign") = 0 1 1 1
    assert ta.columns("period") == [1, 2, 3]
    with pytest.raises(KeyError, match="herd"):
        ta.columns("herd")
    sleep = mm.lmm("Reaction ~ Days * I(Days^2) + (1 | Subject)", mm.datasets.load("sleepstudy"))
    ta = extending.fixed_term_assignment(sleep.model)
    assert ta.labels == ["Days", "I(Days^2)", "Days:I(Days^2)"]
    assert ta.assign.tolist() == [-1, 0, 1, 2]


def test_refit_to_the_same_response_reproduces_the_fit():
    fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    again = extending.refit(fit, fit.model.response)
    assert again.reml_criterion == pytest.approx(fit.reml_criterion, rel=1e-9)


def test_r_formatting_helpers():
    # R: format(c(1, 22.5, 333.25), digits = 4)
    assert extending.r_format([1.0, 22.5, 333.25], digits=4) == ["  1.0", " 22.5", "333.2"]
    assert extending.r_round(2.345, 2) == pytest.approx(2.35, abs=0.006)
    text = extending.format_matrix(["a", "bb"], ["x"], [["1"], ["22"]])
    assert text.splitlines()[0].strip() == "x"


def test_format_coefmat_is_r_printcoefmat():
    # R: printCoefmat(cbind(Estimate = c(3.063, 1.835), "Std. Error" = c(0.5954, 0.5125),
    #   "z value" = c(5.145, 3.580), "Pr(>|z|)" = c(2.68e-07, 0.000344)), digits = 4)
    text = extending.format_coefmat(
        ["tempwarm", "contactyes"],
        ["Estimate", "Std. Error", "z value", "Pr(>|z|)"],
        [[3.062997, 0.595376, 5.144641, 2.680331e-07], [1.834885, 0.512529, 3.580058, 0.000344]],
        digits=4,
    )
    assert text.splitlines()[1].split()[:5] == ["tempwarm", "3.0630", "0.5954", "5.145", "2.68e-07"]


def test_finite_difference_derivatives_of_a_quadratic():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])

    def f(x):
        return float(x @ A @ x)

    g, H = extending.finite_difference_derivatives(
        f, np.array([0.3, -0.2]), np.full(2, -np.inf), np.full(2, np.inf)
    )
    np.testing.assert_allclose(g, 2 * A @ np.array([0.3, -0.2]), atol=1e-6)
    np.testing.assert_allclose(H, 2 * A, atol=1e-5)
