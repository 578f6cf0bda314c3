"""Properties: row order does not matter, independence GEE is the GLM with a sandwich,
the estimator passes the plugin kit, moment estimators agree with direct computation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from gee_helpers import dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from mixedmodels_gee import GEEEstimator, gee

import mixedmodels as mm
from mixedmodels.testing import Check, parametrize_with_checks


def _shuffled(d: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return d.iloc[rng.permutation(len(d))]


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    corstr=st.sampled_from(["independence", "exchangeable", "ar1", "unstructured", "m-dependent"]),
)
def test_row_order_does_not_matter(seed: int, corstr: str) -> None:
    d = dataset("ohio")
    drop = (d["id"] % 4 == 0) & (d["age"] == 0)  # unequal sizes and a gap
    d = d.loc[~drop]
    base = gee("resp ~ age + smoke", d, groups="id", time="age", family="binomial", corstr=corstr)
    shuf = gee(
        "resp ~ age + smoke",
        _shuffled(d, seed),
        groups="id",
        time="age",
        family="binomial",
        corstr=corstr,
    )
    assert np.allclose(shuf.fixef, base.fixef, rtol=1e-10, atol=1e-12)
    assert np.allclose(shuf.vcov, base.vcov, rtol=1e-8, atol=1e-14)
    assert np.allclose(shuf.corr_params, base.corr_params, rtol=1e-10)
    assert shuf.scale == pytest.approx(base.scale, rel=1e-12)
    # Fitted values follow the rows they belong to.
    assert np.allclose(shuf.fitted().loc[base.fitted().index], base.fitted(), rtol=1e-9)


def test_sorted_and_unsorted_data_agree_without_time() -> None:
    # Without a time variable the order within a cluster is the data's; interleaving
    # the clusters must not change anything (geepack would see 4 x 537 clusters).
    d = dataset("ohio").sort_values(["age", "id"], kind="stable")
    fit = gee("resp ~ age + smoke", d, groups="id", family="binomial", corstr="ar1")
    ref = gee("resp ~ age + smoke", dataset("ohio"), groups="id", family="binomial", corstr="ar1")
    assert fit.n_clusters == 537
    assert np.allclose(fit.fixef, ref.fixef, rtol=1e-12)


def _irls(X: np.ndarray, y: np.ndarray, family: Any, link: Any) -> np.ndarray:
    mu = family.starting_mu(y)
    eta = link.link(mu)
    beta = np.zeros(X.shape[1])
    for _ in range(200):
        me = link.mu_eta(eta)
        w = me**2 / family.variance(mu)
        z = eta + (y - mu) / me
        new = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * z))
        done = np.max(np.abs(new - beta)) < 1e-13
        beta = new
        eta = X @ beta
        mu = link.inverse(eta)
        if done:
            break
    return beta


def _sandwich(
    X: np.ndarray, y: np.ndarray, beta: np.ndarray, groups: np.ndarray, family: Any, link: Any
) -> np.ndarray:
    eta = X @ beta
    mu = link.inverse(eta)
    D = X * link.mu_eta(eta)[:, None]
    v = family.variance(mu)
    bread = np.linalg.inv(D.T @ (D / v[:, None]))
    meat = np.zeros_like(bread)
    for g in np.unique(groups):  # a plain loop over clusters: the direct definition
        i = groups == g
        u = D[i].T @ ((y[i] - mu[i]) / v[i])
        meat += np.outer(u, u)
    return np.asarray(bread @ meat @ bread)


@pytest.mark.parametrize(
    "formula, data, groups, family, link",
    [
        ("resp ~ age + smoke", "ohio", "id", "binomial", None),
        ("TICKS ~ YEAR + cHEIGHT", "grouseticks", "BROOD", "poisson", None),
        ("Weight ~ Time + Cu", "dietox", "Pig", "Gamma", "log"),
        ("Weight ~ Time + Cu", "dietox", "Pig", "gaussian", None),
    ],
)
def test_independence_is_glm_with_sandwich(
    formula: str, data: str, groups: str, family: str, link: str | None
) -> None:
    d = dataset(data)
    fit = gee(formula, d, groups=groups, family=family, link=link)
    model = fit.model
    X = np.asarray(model.X)
    y = np.asarray(model.design.y)
    beta = _irls(X, y, fit.family, fit.link)
    assert np.allclose(fit.fixef, beta, rtol=1e-9, atol=1e-12)
    g = d.loc[model.design.row_index, groups].astype(str).to_numpy()
    V = _sandwich(X, y, beta, g, fit.family, fit.link)
    assert np.allclose(fit.vcov.to_numpy(), V, rtol=1e-7, atol=1e-12 * np.abs(V).max())
    # Naive = the GLM covariance with the GEE scale (mean squared Pearson residual).
    eta = X @ beta
    mu = fit.link.inverse(eta)
    D = X * fit.link.mu_eta(eta)[:, None]
    naive = fit.scale * np.linalg.inv(D.T @ (D / fit.family.variance(mu)[:, None]))
    assert np.allclose(fit.get_vcov("naive").to_numpy(), naive, rtol=1e-8)


def test_unstructured_with_gaps_is_the_pairwise_moment_estimator() -> None:
    d = dataset("ohio")
    drop = ((d["id"] % 5 == 0) & (d["age"] == 1)) | ((d["id"] % 7 == 0) & (d["age"] == -1))
    d = d.loc[~drop]
    fit = gee(
        "resp ~ age + smoke", d, groups="id", time="age", family="binomial", corstr="unstructured"
    )
    r = fit.residuals("pearson").to_numpy() / np.sqrt(fit.scale)
    used = d.loc[fit.fitted().index]
    num = np.zeros((4, 4))
    den = np.zeros((4, 4))
    for _, rows in used.assign(r=r).groupby("id"):  # direct definition, cluster by cluster
        t = rows["age"].to_numpy() + 2
        rr = rows["r"].to_numpy()
        for a in range(len(t)):
            for b in range(a + 1, len(t)):
                num[t[a], t[b]] += rr[a] * rr[b]
                den[t[a], t[b]] += 1
    j, k = np.triu_indices(4, 1)
    expected = num[j, k] / den[j, k]
    assert np.allclose(fit.corr_params.to_numpy(), expected, rtol=1e-9)
    assert list(fit.corr_params.index) == [
        "alpha.-2:-1",
        "alpha.-2:0",
        "alpha.-2:1",
        "alpha.-1:0",
        "alpha.-1:1",
        "alpha.0:1",
    ]
    # Its estimating equation for beta at the solution is zero.
    W = fit.working_correlation()
    assert W.shape == (4, 4) and np.allclose(np.diag(W), 1.0)


def test_scale_equivariance_gaussian() -> None:
    d = dataset("dietox")
    base = gee("Weight ~ Time + Cu", d, groups="Pig", corstr="exchangeable")
    d["W10"] = 10.0 * d["Weight"]
    big = gee("W10 ~ Time + Cu", d, groups="Pig", corstr="exchangeable")
    assert np.allclose(big.fixef, 10 * base.fixef, rtol=1e-9)
    assert np.allclose(big.fixef_se, 10 * base.fixef_se, rtol=1e-8)
    assert big.corr_params.iloc[0] == pytest.approx(base.corr_params.iloc[0], rel=1e-9)
    assert big.scale == pytest.approx(100 * base.scale, rel=1e-9)


def _factory(seed: int | None) -> Any:
    d = dataset("respiratory")
    if seed is not None:
        d = _shuffled(d, seed)
    return mm.Model(
        "outcome ~ treat + sex + age + baseline",
        d,
        family="binomial",
        groups=["center", "id"],
        time="visit",
        corstr="ar1",
    )


# One test per kit check; the checks with the factory share its three fits.
@parametrize_with_checks(
    [GEEEstimator(), (GEEEstimator(), {"model_factory": _factory, "has_likelihood": False})]
)
def test_conformance_kit(obj: GEEEstimator, check: Check) -> None:
    check(obj)


def test_scores_vanish_at_the_solution_with_unequal_sizes() -> None:
    # Clusters of 3 and 4 rows are two batches; the pooled estimating equations are zero.
    d = dataset("ohio")
    d = d.loc[~((d["id"] % 3 == 0) & (d["age"] == 1))]
    fit = gee("resp ~ age + smoke", d, groups="id", family="binomial", corstr="exchangeable")
    sizes = fit.cluster_sizes
    assert set(sizes.unique()) == {3, 4}
    U = fit._scores().U
    assert U.shape == (fit.n_clusters, 3)
    assert np.allclose(U.sum(axis=0), 0.0, atol=1e-8)


def test_irregular_times_use_the_batched_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Few distinct gap patterns: one block per pattern.  Many (irregular times): one
    # block per size with per-cluster factors.  Both must give the same fit.
    import mixedmodels_gee._fit as fitmod

    d = dataset("ohio")
    drop = ((d["id"] % 5 == 0) & (d["age"] == 1)) | ((d["id"] % 7 == 0) & (d["age"] == -1))
    d = d.loc[~drop]
    kw = dict(groups="id", time="age", family="binomial")
    for corstr in ("ar1", "unstructured", "exchangeable"):
        split = gee("resp ~ age + smoke", d, corstr=corstr, **kw)
        monkeypatch.setattr(fitmod, "MAX_PATTERN_BLOCKS", 0)
        batched = gee("resp ~ age + smoke", d, corstr=corstr, **kw)
        monkeypatch.undo()
        if corstr != "exchangeable":  # gaps make AR(1) and unstructured patterns differ
            assert len(split._fit.ws.blocks) > 2
            assert any(not b.single and not b.identity for b in batched._fit.ws.blocks)
        assert np.allclose(batched.fixef, split.fixef, rtol=1e-11)
        for kind in ("robust", "naive", "md", "kc", "fg", "mbn", "jackknife"):
            assert np.allclose(batched.get_vcov(kind), split.get_vcov(kind), rtol=1e-9)
        assert np.allclose(batched.corr_params_se, split.corr_params_se, rtol=1e-9)
        assert batched.scale_se == pytest.approx(split.scale_se, rel=1e-9)


def test_continuous_time_ar1() -> None:
    # Irregular, real-valued times: every cluster its own AR(1) pattern (exp decay).
    rng = np.random.default_rng(3)
    K, m = 300, 5
    t = np.sort(rng.uniform(0, 10, size=(K, m)), axis=1).ravel()
    cid = np.repeat(np.arange(K), m)
    b = np.repeat(rng.standard_normal(K), m)
    x = rng.standard_normal(K * m)
    y = 1.0 + 0.5 * x + b + rng.standard_normal(K * m)
    d = pd.DataFrame({"y": y, "x": x, "t": t, "id": cid})
    fit = gee("y ~ x", d, groups="id", time="t", corstr="ar1")
    assert len(fit._fit.ws.blocks) == 1 and not fit._fit.ws.blocks[0].single
    assert 0 < fit.corr_params.iloc[0] < 1 and fit.converged
    shuffled = gee("y ~ x", _shuffled(d, 5), groups="id", time="t", corstr="ar1")
    assert np.allclose(shuffled.fixef, fit.fixef, rtol=1e-10)
