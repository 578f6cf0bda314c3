"""The sparse second-block criterion (decision 0031) against the dense blocked one.

Small models force the sparse path; criterion, solutions and conditional variances
must agree with :class:`LMMProblem` to rounding (1e-10 in the criterion, issue 18).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.linear import fit as linear_fit
from mixedmodels.linear import sparse
from mixedmodels.linear.criterion import LMMProblem
from mixedmodels.linear.layout import model_term_data
from mixedmodels.linear.sparse import SparseLMMProblem, prefers_sparse, second_block


def _clustered(n: int, n1: int, n2: int, n3: int = 0, seed: int = 0) -> pd.DataFrame:
    """Crossed factors whose crossings stay within clusters (a sparse design)."""
    rng = np.random.default_rng(seed)
    clusters = 10
    g = rng.integers(0, n1, n)
    cluster = g * clusters // n1
    h = cluster * (n2 // clusters) + rng.integers(0, n2 // clusters, n)
    u = rng.standard_normal(n)
    y = (
        1.0
        + 0.3 * u
        + rng.standard_normal(n1)[g]
        + 0.7 * rng.standard_normal(n2)[h]
        + 0.2 * u * rng.standard_normal(n2)[h]
        + rng.standard_normal(n)
    )
    data = {
        "y": y,
        "u": u,
        "x": rng.standard_normal(n),
        "g": pd.Categorical([f"g{i}" for i in g]),
        "h": pd.Categorical([f"h{i}" for i in h]),
    }
    if n3:
        i3 = cluster * (n3 // clusters) + rng.integers(0, n3 // clusters, n)
        data["i"] = pd.Categorical([f"i{i}" for i in i3])
        data["y"] = y + 0.5 * rng.standard_normal(n3)[i3]
    return pd.DataFrame(data)


CASES = [
    ("y ~ 1 + x + (1 | g) + (1 | h)", _clustered(3000, 400, 200)),
    ("y ~ 1 + u + (1 + u | g) + (1 + u | h)", _clustered(3000, 300, 150, seed=1)),
    ("y ~ 1 + u + (1 + u | g) + (1 + u | h) + (1 | i)", _clustered(4000, 300, 200, 100, seed=2)),
]


def _problems(formula: str, data: pd.DataFrame, weights: bool = False, dense_factor=False):
    model = mm.Model(formula, data)
    terms = model_term_data(model)
    y = np.asarray(model.response, dtype=np.float64)
    w = None
    if weights:
        w = np.random.default_rng(5).uniform(0.5, 2.0, y.size)
    return LMMProblem(model.X, y, terms, w), SparseLMMProblem(model.X, y, terms, w, dense_factor)


@pytest.mark.parametrize(("formula", "data"), CASES)
@pytest.mark.parametrize(("weights", "dense_factor"), [(False, False), (True, False), (True, True)])
def test_sparse_criterion_equals_the_dense_one(formula, data, weights, dense_factor):
    dense, sparse_ = _problems(formula, data, weights, dense_factor)
    rng = np.random.default_rng(7)
    lower, _ = dense.bounds()
    for _ in range(4):
        theta = dense.start() * rng.uniform(0.3, 1.5, lower.size)
        theta = np.where(np.isfinite(lower), np.abs(theta), theta + 0.2 * rng.standard_normal())
        for reml in (False, True):
            a = dense.evaluate(theta, reml)
            b = sparse_.evaluate(theta, reml)
            assert a is not None and b is not None
            assert b.objective == pytest.approx(a.objective, rel=1e-10, abs=1e-10)
            assert b.pwrss == pytest.approx(a.pwrss, rel=1e-10)
    ev_d, ev_s = dense.evaluate(theta, True), sparse_.evaluate(theta, True)
    beta_d, us_d, _ = dense.solve(ev_d)
    beta_s, us_s, _ = sparse_.solve(ev_s)
    np.testing.assert_allclose(beta_s, beta_d, rtol=1e-9, atol=1e-10)
    for a, b in zip(us_d, us_s, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sparse_.vcov_unscaled(ev_s), dense.vcov_unscaled(ev_d), rtol=1e-9)
    condvars = zip(
        dense.conditional_variances(ev_d), sparse_.conditional_variances(ev_s), strict=True
    )
    for a, b in condvars:
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-12)


def test_sparse_criterion_at_a_boundary_theta():
    dense, sparse_ = _problems(*CASES[0])
    theta = np.array([0.0, 0.8])
    a, b = dense.evaluate(theta, False), sparse_.evaluate(theta, False)
    assert b.objective == pytest.approx(a.objective, rel=1e-10)


def test_fit_takes_the_sparse_path_and_matches_the_dense_fit(monkeypatch):
    formula, data = CASES[0]
    dense_fit = mm.lmm(formula, data, reml=False)
    monkeypatch.setattr(sparse, "SPARSE_MIN_Q", 50)
    monkeypatch.setattr(sparse, "SPARSE_MAX_ENVELOPE", 0.2)  # small q: blocks weigh more
    model = mm.Model(formula, data)
    terms = model_term_data(model)
    assert prefers_sparse(terms, model.X.shape[1])
    problem = linear_fit._unstructured_problem(model.X, model.response, terms, None)
    assert isinstance(problem, SparseLMMProblem)
    sparse_fit = mm.lmm(formula, data, reml=False)
    inner = getattr(sparse_fit._problem, "inner", sparse_fit._problem)
    assert isinstance(inner, SparseLMMProblem)
    assert sparse_fit.loglik == pytest.approx(dense_fit.loglik, rel=1e-8)
    np.testing.assert_allclose(sparse_fit.fixef, dense_fit.fixef, rtol=1e-4)
    np.testing.assert_allclose(sparse_fit.theta, dense_fit.theta, rtol=1e-3, atol=1e-4)
    # What a result reads from its criterion: vcov, conditional modes and variances.
    np.testing.assert_allclose(
        np.asarray(sparse_fit.vcov), np.asarray(dense_fit.vcov), rtol=1e-3, atol=1e-10
    )
    expected = dense_fit.ranef(condvar=True).select_dtypes("number")
    got = sparse_fit.ranef(condvar=True)[expected.columns]
    assert list(expected.columns)  # condval, condsd
    np.testing.assert_allclose(got.to_numpy(float), expected.to_numpy(float), rtol=1e-3, atol=1e-4)
    assert sparse_fit.summary() is not None


def test_random_crossings_stay_dense(monkeypatch):
    """Two crossed factors sampled independently fill the Schur complement: dense."""
    monkeypatch.setattr(sparse, "SPARSE_MIN_Q", 50)
    monkeypatch.setattr(sparse, "SPARSE_MAX_ENVELOPE", 0.2)  # small q: blocks weigh more
    rng = np.random.default_rng(0)
    n = 20_000
    data = pd.DataFrame(
        {
            "y": rng.standard_normal(n),
            "g": pd.Categorical(rng.integers(0, 400, n).astype(str)),
            "h": pd.Categorical(rng.integers(0, 300, n).astype(str)),
        }
    )
    model = mm.Model("y ~ 1 + (1 | g) + (1 | h)", data)
    assert not prefers_sparse(model_term_data(model), 1)
    formula, clustered = CASES[0]
    model = mm.Model(formula, clustered)
    assert prefers_sparse(model_term_data(model), model.X.shape[1])


def test_a_class_map_over_budget_forms_g_directly(monkeypatch):
    """Levels of the first term meeting many levels of the others (MovieLens users and
    items): the class map V would be huge, so G is formed at every evaluation."""
    formula, data = CASES[0]
    model = mm.Model(formula, data)
    terms = model_term_data(model)
    assert second_block(terms, model.X.shape[1]) == "blocked"
    monkeypatch.setattr(sparse, "V_MAX_BYTES", 1000.0)
    assert second_block(terms, model.X.shape[1]) == "direct"
    fit = mm.lmm(formula, data, reml=True)
    inner = getattr(fit._problem, "inner", fit._problem)
    assert isinstance(inner, SparseLMMProblem) and inner.dense_factor
    monkeypatch.setattr(sparse, "V_MAX_BYTES", 1.5 * 2**30)
    reference = mm.lmm(formula, data, reml=True)
    assert fit.reml_criterion == pytest.approx(reference.reml_criterion, rel=1e-8)


@pytest.mark.parametrize("kind", ["banded", "superlu"])
def test_both_fixed_orderings_give_the_dense_criterion(kind):
    formula, data = CASES[1]
    dense, sparse_ = _problems(formula, data)
    sparse_._choose_ordering()
    if kind == "superlu":
        first = sparse._SuperLUFactor.of(sparse_._schur(sparse_.lambdas(sparse_.start()))[2])
        inv = np.empty_like(first.lu.perm_c)
        inv[first.lu.perm_c] = np.arange(inv.size)
        sparse_._ordering = ("superlu", inv, 0)
    else:
        assert sparse_._ordering[0] == "banded"  # clustered: a narrow band after RCM
    theta = np.array([0.9, 0.2, 0.5, 0.7, -0.1, 0.3])
    for reml in (False, True):
        a, b = dense.evaluate(theta, reml), sparse_.evaluate(theta, reml)
        assert b.objective == pytest.approx(a.objective, rel=1e-10)
    beta_d, us_d, _ = dense.solve(a)
    beta_s, us_s, _ = sparse_.solve(b)
    np.testing.assert_allclose(beta_s, beta_d, rtol=1e-9)
    np.testing.assert_allclose(us_s[1], us_d[1], rtol=1e-8, atol=1e-10)
