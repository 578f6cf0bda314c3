"""The GLMM criterion from sums over chunks of rows equals the in-memory one."""

from __future__ import annotations

from functools import reduce as fold
from typing import Any

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.extending import ChunkedGLMMProblem, GLMMProblem, TermData, combine_chunks
from mixedmodels.generalized.fit import build_glmm_problem

CASES = {
    "cbpp": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    "grouseticks": (
        "grouseticks",
        "TICKS ~ YEAR + HEIGHT_s + (1 | BROOD) + (1 | LOCATION)",
        "poisson",
    ),
    "slope": ("cbpp", "incidence ~ period + (1 + period | herd)", "poisson"),
}


def _chunked(P: GLMMProblem, n_chunks: int, seed: int = 3) -> ChunkedGLMMProblem:
    """The rows of ``P`` shuffled into chunks (one of them empty)."""
    order = np.random.default_rng(seed).permutation(P.n)
    parts: list[Any] = [None]
    for rows in np.array_split(order, n_chunks):
        terms = [TermData(t.codes[rows], t.n_levels, t.Z[rows], t.structure) for t in P.terms]
        parts.append(
            GLMMProblem(P.X[rows], P.y[rows], terms, P.pw[rows], P.offset[rows], P.family, P.link)
        )

    def reduce(task: Any) -> Any:
        return fold(combine_chunks, [task(c) for c in parts])

    return ChunkedGLMMProblem(reduce, P.terms, P.p, P.n, P.family, P.link)


@pytest.mark.parametrize("case", list(CASES))
def test_chunked_criterion_and_gradient(case: str) -> None:
    name, formula, family = CASES[case]
    model = mm.Model(formula, mm.datasets.load(name), family=family)
    P = build_glmm_problem(model)
    C = _chunked(P, 3)
    k = P.n_theta
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = np.concatenate([s.start() for s in model.structures]) * rng.uniform(0.3, 1.5)
        beta = rng.normal(scale=0.3, size=P.p)
        for b in (None, beta):
            want = P.laplace_gradient(theta, b)
            got = C.laplace_gradient(theta, b)
            assert got[0] == pytest.approx(want[0], rel=1e-12)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-8, atol=1e-8)
            if b is not None:
                np.testing.assert_allclose(got[2], want[2], rtol=1e-8, atol=1e-8)
            assert C.laplace(theta, b) == pytest.approx(P.laplace(theta, b), rel=1e-12)
    if k == 1 and len(model.terms) == 1:
        assert C.agq(theta, beta, 9) == pytest.approx(P.agq(theta, beta, 9), rel=1e-12)
    assert C.n == P.n


@pytest.mark.parametrize(
    ("name", "formula", "family", "link"),
    [
        ("grouseticks", "TICKS ~ YEAR + (1 | BROOD)", "negative_binomial", None),
        ("grouseticks", "TICKS + 0.5 ~ YEAR + (1 | BROOD)", "Gamma", "log"),
    ],
)
def test_chunked_family_parameter_reductions(name: str, formula: str, family: str, link: Any):
    """What the family-parameter fit reads from the rows, by one pass each: ``-2 log p(y|mu)``
    at given modes (for several sizes / dispersions) and the fast fit's Fisher vcov."""
    model = mm.Model(formula, mm.datasets.load(name), family=family, link=link)
    P = build_glmm_problem(model)
    C = _chunked(P, 3)
    modes = C.pirls(np.array([0.8]), None)
    assert modes is not None
    # The same modes' linear predictor on all rows in memory.
    eta = (
        P.offset + P.X @ modes.beta + P.fixed.random_part(modes.factor.lambdas, modes.u1, modes.uR)
    )
    for value in (0.5, 2.0, 7.0):
        for Q in (P, C):
            if family == "negative_binomial":
                Q.family = model.family.with_theta(value)  # type: ignore[attr-defined]
            else:
                Q.dispersion = value
        want = P._full_minus2_loglik(P.link.inverse(eta))
        assert C.modes_minus2_loglik(modes) == pytest.approx(want, rel=1e-13)
    f = P.joint.factor(modes.factor.lambdas, P._weights(eta)[2])
    assert f is not None
    want_vcov = P.joint.fixed_effects_vcov(f)
    np.testing.assert_allclose(C.fisher_fixed_effects_vcov(modes), want_vcov, rtol=1e-11)


def _rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize(
    ("case", "nagq"), [("cbpp", 1), ("cbpp", 25), ("grouseticks", 1), ("slope", 1)]
)
def test_fit_does_not_depend_on_the_order_of_the_rows(case: str, nagq: int) -> None:
    """The rows in another order (sums rounded otherwise, as over a Dask frame's
    partitions): the estimates and their covariance to 1e-10 relative (decision 0037).

    The covariance is ``2 H^-1`` from differences of the criterion or its gradient,
    which amplify rounding: it moved by 5.6e-9 (cbpp) when the variance function's
    derivative was itself a difference, and by 1.6e-9 (25-node quadrature) when the
    quadrature fit stopped at a decrease test and its Hessian took steps of 1e-3."""
    name, formula, family = CASES[case]
    df = mm.datasets.load(name)
    rows = np.random.default_rng(1).permutation(len(df))
    want = mm.glmm(formula, df, family=family, nagq=nagq)
    got = mm.glmm(formula, df.iloc[rows], family=family, nagq=nagq)
    assert got.minus2loglik == pytest.approx(want.minus2loglik, rel=1e-12)
    assert _rel(got.fixef, want.fixef) <= 1e-10
    assert _rel(got.theta, want.theta) <= 1e-10
    assert _rel(got.vcov.to_numpy(), want.vcov.to_numpy()) <= 1e-10
