"""The class map ``V`` of the blocked criterion (decision 0001): ``G = A_R1 W A_R1'``
from per-class ``W``, built by the chunked sparse product (decision 0041)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.linear import criterion
from mixedmodels.linear.fit import build_problem


def _problem(formula: str) -> criterion.LMMProblem:
    rng = np.random.default_rng(5)
    n, g1, g2 = 3_000, 400, 40
    a, b = rng.integers(0, g1, n), rng.integers(0, g2, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=g1)[a] + rng.normal(size=g2)[b] + rng.normal(size=n)
    data = pd.DataFrame({"y": y, "x": x, "a": a.astype(str), "b": b.astype(str)})
    problem = build_problem(mm.Model(formula, data))
    assert isinstance(problem, criterion.LMMProblem)
    return problem


def _direct_G(problem: criterion.LMMProblem, w: np.ndarray) -> np.ndarray:
    """Lower triangle of sum_j A_j W_class(j) A_j' from A_R1 itself."""
    m, p1 = problem.m, problem.p1
    A = problem.A_R1.toarray().reshape(m, problem.n1, p1)
    G = np.einsum("mjk,jkl,sjl->ms", A, w[problem.level_class], A)
    return np.tril(G)


@pytest.mark.parametrize("formula", ["y ~ x + (1 | a) + (1 | b)", "y ~ x + (1 + x | a) + (1 | b)"])
@pytest.mark.parametrize("chunk", [10**9, 50])
@pytest.mark.parametrize("dense_v", [True, False])
def test_class_map_gives_G(
    formula: str, chunk: int, dense_v: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(criterion, "_DENSE_CLASS_DENSITY", 2.0)  # the sparse build
    monkeypatch.setattr(criterion, "_PAIR_CHUNK", chunk)  # one chunk, or many
    monkeypatch.setattr(criterion, "_DENSE_V_ENTRIES", 10**9 if dense_v else 0)
    problem = _problem(formula)
    assert problem.n1 * problem.m**2 * problem.p1**2 > criterion._SMALL_DENSE_ENTRIES
    p1 = problem.p1
    w = np.random.default_rng(1).normal(size=(problem.n_classes, p1, p1))
    w = w + w.transpose(0, 2, 1)
    g = np.zeros(problem.m * problem.m)
    problem._add_G(w, g)
    G = g.reshape(problem.m, problem.m)
    np.testing.assert_allclose(G, _direct_G(problem, w), rtol=1e-12, atol=1e-9)
    # Each position's classes are stored in increasing order (the old summation order).
    for vmap in problem._VT.values():
        assert np.all(np.diff(vmap.rows) > 0)
        if not isinstance(vmap.matrix, np.ndarray):
            indices, indptr = vmap.matrix.indices, vmap.matrix.indptr
            within = np.diff(indices)[
                np.diff(np.repeat(np.arange(indptr.size - 1), np.diff(indptr))) == 0
            ]
            assert np.all(within > 0)
