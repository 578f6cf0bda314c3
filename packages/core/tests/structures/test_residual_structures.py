"""Residual correlation and variance functions inside the LMM machinery.

* The criterion (whiten per group, then the profiled LMM criterion) equals a textbook
  computation with the dense marginal covariance ``Z Lambda Lambda' Z' + R`` on random
  problems, for every kind of inner problem (dense, blocked with a direct ``G``,
  blocked with the class map, GLS).
* Models that coincide give the same likelihood: compound-symmetric residuals, a random
  intercept, and ``homcs()`` random effects.
* Bad input gets clear errors; strings and objects specify the same model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.covariance import Diagonal, Unstructured

# Private: the whitened criterion is tested against a dense textbook computation.
from mixedmodels.linear import residual as _lmm_resid
from mixedmodels.linear.criterion import TermData
from mixedmodels.linear.residual import ResidualLMMProblem
from mixedmodels.residual import (
    Correlation,
    ResidualSpecError,
    VarIdent,
    VarPower,
    bind_residual,
    parse_correlation,
    parse_variance,
)

# --- textbook criterion ---------------------------------------------------------------


def _textbook(
    X: np.ndarray, y: np.ndarray, Z: np.ndarray, Lam: np.ndarray, R: np.ndarray, reml: bool
) -> float:
    n, p = X.shape
    V0 = Z @ Lam @ Lam.T @ Z.T + R
    Vi = np.linalg.inv(V0)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    q = float(r @ Vi @ r)
    logdet = np.linalg.slogdet(V0)[1]
    if reml:
        nu = n - p
        return float(logdet + np.linalg.slogdet(XtViX)[1] + nu * (1 + np.log(2 * np.pi * q / nu)))
    return float(logdet + n * (1 + np.log(2 * np.pi * q / n)))


def _random_problem(seed: int, n_groups: int, with_terms: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, n_groups)
    g = np.repeat(np.arange(n_groups), sizes)
    n = g.size
    time = np.concatenate([np.sort(rng.choice(np.arange(1, 12), k, replace=False)) for k in sizes])
    frame = pd.DataFrame(
        {
            "g": pd.Categorical([f"g{i}" for i in g]),
            "time": time.astype(float),
            "sex": pd.Categorical(rng.choice(["F", "M", "X"], n)),
            "x": rng.normal(size=n),
            "w": rng.uniform(0.5, 2.0, n),
        }
    )
    X = np.column_stack([np.ones(n), frame["x"].to_numpy()])
    y = rng.normal(size=n) + np.repeat(rng.normal(size=n_groups), sizes)
    terms = []
    if with_terms:
        # g (nested: residual groups = g) with intercept and slope; a coarser factor.
        coarse = g // 3
        terms = [
            TermData(
                g.astype(np.int64), n_groups, np.column_stack([np.ones(n), time]), Unstructured(2)
            ),
            TermData(coarse.astype(np.int64), int(coarse.max()) + 1, np.ones((n, 1)), Diagonal(1)),
        ]
    return {"frame": frame, "X": X, "y": y, "terms": terms, "g": g, "rng": rng}


def _dense_Z_Lambda(
    terms: list[TermData], theta: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    Zs, Ls, k = [], [], 0
    for t in terms:
        th = theta[k : k + t.structure.n_params]
        k += t.structure.n_params
        lam = t.structure.factor(th)
        Zk = np.zeros((n, t.q))
        for j in range(t.dim):
            Zk[np.arange(n), t.codes * t.dim + j] = t.Z[:, j]
        Zs.append(Zk)
        Ls.append(np.kron(np.eye(t.n_levels), lam))
    if not Zs:
        return np.zeros((n, 0)), np.zeros((0, 0))
    from scipy.linalg import block_diag

    return np.hstack(Zs), block_diag(*Ls)


@pytest.mark.parametrize("kind", ["dense", "direct", "blocked", "gls"])
@pytest.mark.parametrize(
    "correlation, variance",
    [
        ("ar1(time | g)", None),
        ("car1(time | g)", "ident(1 | sex)"),
        ("arma(time | g, p = 1, q = 1)", "power(w)"),
        ("cs(1 | g)", "exp(x) * ident(1 | sex)"),
        ("symm(1 | g)", None),
        (None, "constpower(w | sex)"),
    ],
)
@pytest.mark.parametrize("reml", [True, False])
def test_criterion_equals_textbook(kind: str, correlation: Any, variance: Any, reml: bool) -> None:
    prob = _random_problem(7, 40 if kind != "gls" else 12, kind != "gls")
    frame, X, y, terms = prob["frame"], prob["X"], prob["y"], prob["terms"]
    residual = bind_residual(correlation, variance, frame, frame.index, ["g"])
    limits = (_lmm_resid._DENSE_MAX_M, _lmm_resid._DIRECT_MAX_M)
    try:
        _lmm_resid._DENSE_MAX_M = 10_000 if kind == "dense" else 0
        _lmm_resid._DIRECT_MAX_M = 10_000 if kind == "direct" else 0
        problem = ResidualLMMProblem(X, y, terms, residual)
    finally:
        _lmm_resid._DENSE_MAX_M, _lmm_resid._DIRECT_MAX_M = limits
    assert problem.kind == kind
    rng = prob["rng"]
    n = len(y)
    for _ in range(3):
        theta = np.concatenate(
            [
                np.abs(rng.normal(size=problem.n_theta)) + 0.2,
                rng.normal(scale=0.5, size=problem.n_phi),
            ]
        )
        Z, Lam = _dense_Z_Lambda(terms, theta[: problem.n_theta], n)
        phi = theta[problem.n_theta :]
        R = np.zeros((n, n))
        for rows, block in residual.covariance_blocks(phi):
            for r_, b in zip(rows, block, strict=True):
                R[np.ix_(r_, r_)] = b
        expected = _textbook(X, y, Z, Lam, R, reml)
        assert problem.objective(theta, reml) == pytest.approx(expected, rel=1e-9)
        value, grad = problem.gradient(theta, reml)
        assert value == pytest.approx(expected, rel=1e-9)
        assert grad is not None
        for i in range(theta.size):
            h = 1e-6 * max(1.0, abs(theta[i]))
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            fd = (problem.objective(up, reml) - problem.objective(down, reml)) / (2 * h)
            assert grad[i] == pytest.approx(fd, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("reml", [True, False])
def test_groups_spanning_levels_of_a_term(reml: bool) -> None:
    """Residual groups coarser than a random-effect term (nlme allows a correlation at an
    outer level): whitening mixes the term's levels, the dense criterion is used, and it
    equals the textbook one."""
    prob = _random_problem(11, 18, True)
    frame, X, y, terms = prob["frame"], prob["X"], prob["y"], prob["terms"]
    frame["coarse"] = pd.Categorical(prob["g"] // 3)
    residual = bind_residual("car1(1 | coarse)", "ident(1 | sex)", frame, frame.index, None)
    problem = ResidualLMMProblem(X, y, terms, residual)
    assert problem.kind == "dense_general"
    rng = prob["rng"]
    n = len(y)
    for _ in range(3):
        theta = np.concatenate(
            [
                np.abs(rng.normal(size=problem.n_theta)) + 0.2,
                rng.normal(scale=0.5, size=problem.n_phi),
            ]
        )
        Z, Lam = _dense_Z_Lambda(terms, theta[: problem.n_theta], n)
        R = np.zeros((n, n))
        for rows, block in residual.covariance_blocks(theta[problem.n_theta :]):
            for r_, b in zip(rows, block, strict=True):
                R[np.ix_(r_, r_)] = b
        expected = _textbook(X, y, Z, Lam, R, reml)
        assert problem.objective(theta, reml) == pytest.approx(expected, rel=1e-9)


def test_blocked_kinds_agree_on_a_fit() -> None:
    """One model through the dense, direct and class-map inner problems: same fit."""
    ovary = mm.datasets.load("Ovary")
    formula = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 + Time | Mare)"
    fits = {}
    limits = (_lmm_resid._DENSE_MAX_M, _lmm_resid._DIRECT_MAX_M)
    for kind, dense, direct in (("dense", 10_000, 0), ("direct", 0, 10_000), ("blocked", 0, 0)):
        try:
            _lmm_resid._DENSE_MAX_M, _lmm_resid._DIRECT_MAX_M = dense, direct
            fits[kind] = mm.lmm(formula, ovary, correlation="car1(Time | Mare)")
        finally:
            _lmm_resid._DENSE_MAX_M, _lmm_resid._DIRECT_MAX_M = limits
        assert fits[kind]._problem.kind == kind
    for kind in ("direct", "blocked"):
        assert fits[kind].loglik == pytest.approx(fits["dense"].loglik, rel=1e-9)
        np.testing.assert_allclose(fits[kind].fixef, fits["dense"].fixef, rtol=1e-5)
        re_k = fits[kind].ranef()["Mare"].to_numpy()
        re_d = fits["dense"].ranef()["Mare"].to_numpy()
        np.testing.assert_allclose(re_k, re_d, rtol=1e-4, atol=1e-6)
        cv_k = fits[kind].ranef(condvar=True)["condsd"].to_numpy()
        cv_d = fits["dense"].ranef(condvar=True)["condsd"].to_numpy()
        np.testing.assert_allclose(cv_k, cv_d, rtol=1e-4)


# --- models that coincide -------------------------------------------------------------


@pytest.mark.parametrize("reml", [True, False])
def test_compound_symmetry_residuals_equal_a_random_intercept(reml: bool) -> None:
    """On Orthodont (balanced, positive within-subject correlation) a GLS with
    compound-symmetric residuals is the random-intercept model."""
    orth = mm.datasets.load("Orthodont")
    a = mm.gls("distance ~ age * Sex", orth, correlation="cs(1 | Subject)", reml=reml)
    b = mm.lmm("distance ~ age * Sex + (1 | Subject)", orth, reml=reml)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-8)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-6)
    rho = a.structure_parameters(conf_int=False).set_index("term").loc["Rho", "estimate"]
    sd_b = b.covariance_matrices()["Subject"].iloc[0, 0] ** 0.5
    assert rho == pytest.approx(sd_b**2 / (sd_b**2 + b.sigma**2), rel=1e-5)


def test_cs_random_effects_equal_cs_residuals() -> None:
    """cake: homcs(0 + recipe | replicate) random effects, (1 | replicate) +
    (1 | replicate:recipe), and (1 | replicate:recipe) with compound-symmetric residuals
    within replicates are one model (all correlations positive)."""
    cake = mm.datasets.load("cake")
    f = "angle ~ recipe * temperature"
    a = mm.lmm(f"{f} + homcs(0 + recipe | replicate)", cake, reml=False)
    b = mm.lmm(f"{f} + (1 | replicate) + (1 | replicate:recipe)", cake, reml=False)
    c = mm.lmm(f"{f} + (1 | replicate:recipe)", cake, reml=False, correlation="cs(1 | replicate)")
    assert a.loglik == pytest.approx(b.loglik, rel=1e-8)
    assert c.loglik == pytest.approx(b.loglik, rel=1e-8)
    np.testing.assert_allclose(c.fixef, b.fixef, rtol=1e-5)


def test_variance_functions_equal_prior_weights() -> None:
    """fixed(v) is prior weights 1/v."""
    orth = mm.datasets.load("Orthodont")
    a = mm.lmm("distance ~ age + (1 | Subject)", orth, variance="fixed(age)")
    b = mm.lmm("distance ~ age + (1 | Subject)", orth, weights=1.0 / orth["age"].to_numpy())
    assert a.loglik == pytest.approx(b.loglik, rel=1e-9)
    # power(v) at its estimate and prior weights 1/v^(2 delta) are one model.
    p = mm.lmm("distance ~ age + (1 | Subject)", orth, variance="power(age)", reml=False)
    delta = p.structure_parameters(conf_int=False).set_index("term").loc["power", "estimate"]
    w = orth["age"].to_numpy() ** (-2 * delta)
    q = mm.lmm("distance ~ age + (1 | Subject)", orth, weights=w, reml=False)
    assert p.loglik == pytest.approx(q.loglik, rel=1e-7)


# --- bad input ------------------------------------------------------------------------


def test_duplicate_times_within_a_group_are_a_clear_error() -> None:
    orth = mm.datasets.load("Orthodont")
    with pytest.raises(ValueError, match=r"'age' has duplicate values within groups of 'Sex'"):
        mm.gls("distance ~ age", orth, correlation="ar1(age | Sex)")
    # Compound symmetry ignores times: ties are fine.
    mm.gls("distance ~ age", orth, correlation="cs(age | Sex)")


def test_variance_function_on_a_missing_column() -> None:
    orth = mm.datasets.load("Orthodont")
    with pytest.raises(ValueError, match=r"power\(agee\): column 'agee' not found"):
        mm.lmm("distance ~ age + (1 | Subject)", orth, variance="power(agee)")
    with pytest.raises(ValueError, match=r"column 'Sexx' not found"):
        mm.lmm("distance ~ age + (1 | Subject)", orth, variance="ident(1 | Sexx)")
    with pytest.raises(ValueError, match="variance function 'powr' is not known; known: "):
        mm.lmm("distance ~ age + (1 | Subject)", orth, variance="powr(age)")


def test_unregistered_structure_names_the_registered_ones() -> None:
    orth = mm.datasets.load("Orthodont")
    with pytest.raises(KeyError) as info:
        mm.gls("distance ~ age", orth, correlation="ar3(age | Subject)")
    text = str(info.value)
    assert "ar3" in text and "ar1" in text and "car1" in text


def test_other_bad_specifications() -> None:
    orth = mm.datasets.load("Orthodont")
    with pytest.raises(ValueError, match=r"must be integer valued \(use car1"):
        mm.gls("distance ~ age", orth.assign(t=orth["age"] / 3), correlation="ar1(t | Subject)")
    limit = _lmm_resid._GENERAL_MAX_M
    try:
        _lmm_resid._GENERAL_MAX_M = 10
        with pytest.raises(ValueError, match="groups span several levels of 'Subject'"):
            mm.lmm("distance ~ age + (1 | Subject)", orth, correlation="ar1(1 | Sex)")
    finally:
        _lmm_resid._GENERAL_MAX_M = limit
    with pytest.raises(ValueError, match="cannot be used as a residual correlation"):
        mm.gls("distance ~ age", orth, correlation="diag(1 | Subject)")
    with pytest.raises(ValueError, match="unknown options"):
        mm.gls("distance ~ age", orth, correlation="ar1(1 | Subject, p = 2)")
    with pytest.raises(ValueError, match="missing values"):
        mm.gls(
            "distance ~ age",
            orth.assign(t=np.where(orth.index == 3, np.nan, 1.0)),
            variance="power(t)",
        )
    with pytest.raises(ValueError, match="zero values"):
        mm.gls("distance ~ age", orth.assign(t=0.0), variance="power(t)")
    with pytest.raises(ValueError, match="unexpected model arguments"):
        mm.Model("distance ~ age + (1 | Subject)", orth, corelation="ar1()").fit()
    with pytest.raises(ValueError, match=r"no random-effect term; use mixedmodels\.gls"):
        mm.lmm("distance ~ age", orth)
    with pytest.raises(ValueError, match=r"use mixedmodels\.lmm"):
        mm.gls("distance ~ age + (1 | Subject)", orth)


# --- specification ----------------------------------------------------------------------


def test_strings_and_objects_specify_the_same_model() -> None:
    orth = mm.datasets.load("Orthodont")
    f = "distance ~ age + Sex + (1 | Subject)"
    a = mm.lmm(f, orth, correlation="car1(age | Subject)", variance="ident(1 | Sex) * power(age)")
    b = mm.lmm(
        f,
        orth,
        correlation=Correlation("car1", time="age", group="Subject"),
        variance=VarIdent("Sex") * VarPower("age"),
    )
    from mixedmodels.covariance import CAR1

    c = mm.lmm(
        f,
        orth,
        correlation=Correlation(CAR1, "age", "Subject"),
        variance=[VarIdent("Sex"), VarPower("age")],
    )
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)
    assert a.loglik == pytest.approx(c.loglik, rel=1e-12)


def test_parser() -> None:
    c = parse_correlation("arma(visit | id, p = 2, q = 1)")
    assert (c.name, c.time, c.group, c.options) == ("arma", ["visit"], "id", {"p": 2, "q": 1})
    c = parse_correlation("ar1()")
    assert (c.time, c.group) == (None, None)
    c = parse_correlation("exp(x + y | site)")
    assert (c.time, c.group) == (["x", "y"], "site")
    assert str(parse_correlation("ar1(1 | a/b)")) == "ar1(1 | a:b)"
    fs = parse_variance("varIdent(~1 | Sex) * power(age | Sex) * fixed(w) * power()")
    assert [type(f).__name__ for f in fs] == ["VarIdent", "VarPower", "VarFixed", "VarPower"]
    assert fs[3].covariate is None  # the fitted values
    with pytest.raises(ResidualSpecError):
        parse_correlation("ar1(a | b | c)")


def test_row_order_positions_and_default_group() -> None:
    """ar1() uses the rows' order within the innermost random-effect group; ar1(1 | g)
    names the group; the same fit."""
    ovary = mm.datasets.load("Ovary")
    f = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)"
    a = mm.lmm(f, ovary, correlation="ar1()")
    b = mm.lmm(f, ovary, correlation="ar1(1 | Mare)")
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)


def test_unequal_spacing_and_unbalanced_groups() -> None:
    """car1 over unequally spaced times with groups of different sizes (rows dropped at
    random from Ovary) equals the textbook likelihood at the estimates."""
    ovary = mm.datasets.load("Ovary")
    rng = np.random.default_rng(2)
    keep = rng.random(len(ovary)) > 0.3
    data = ovary[keep].sample(frac=1.0, random_state=1)  # shuffled rows
    fit = mm.lmm(
        "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)",
        data,
        correlation="car1(Time | Mare)",
        reml=False,
    )
    assert fit.converged
    problem = fit._problem
    sizes = np.bincount(problem.residual.groups)
    assert len(set(sizes.tolist())) > 3
    n = fit.nobs
    Z, Lam = _dense_Z_Lambda(problem.terms, fit.theta[:1], n)
    R = np.zeros((n, n))
    for rows, block in problem.residual.covariance_blocks(fit.theta[1:]):
        for r_, b in zip(rows, block, strict=True):
            R[np.ix_(r_, r_)] = b
    y = fit.model.response
    expected = _textbook(fit.model.X, y, Z, Lam, R, reml=False)
    assert -2 * fit.loglik == pytest.approx(expected, rel=1e-10)


# --- results ----------------------------------------------------------------------------


def test_residual_types_and_simulation() -> None:
    orth = mm.datasets.load("Orthodont")
    fit = mm.lmm(
        "distance ~ age + Sex + (1 | Subject)",
        orth,
        correlation="ar1(1 | Subject)",
        variance="ident(1 | Sex)",
    )
    resp = fit.residuals().to_numpy()
    pearson = fit.residuals(type="pearson").to_numpy()
    ratio = fit.structure_parameters(conf_int=False).set_index("term").loc["Female", "estimate"]
    female = (orth["Sex"] == "Female").to_numpy()
    np.testing.assert_allclose(pearson[female], resp[female] / ratio)
    np.testing.assert_allclose(pearson[~female], resp[~female])
    normalized = fit.residuals(type="normalized", scaled=True).to_numpy()
    assert normalized.shape == resp.shape and np.all(np.isfinite(normalized))
    sims = fit.simulate(nsim=4000, seed=1).to_numpy()
    # Within-subject residual correlation of simulated data (random intercept removed by
    # differencing consecutive ages) matches the fitted structure.
    assert sims.shape == (108, 4000)
    var_f = np.var(sims[female], axis=1).mean()
    var_m = np.var(sims[~female], axis=1).mean()
    cov = fit.covariance_matrices()["Subject"].iloc[0, 0]
    assert var_m == pytest.approx(cov + fit.sigma**2, rel=0.05)
    assert var_f == pytest.approx(cov + (fit.sigma * ratio) ** 2, rel=0.05)


def test_gls_result_api() -> None:
    orth = mm.datasets.load("Orthodont")
    fit = mm.gls("distance ~ age + Sex", orth, correlation="ar1(1 | Subject)")
    assert isinstance(fit, mm.GLSResult)
    assert fit.ranef() == {}
    assert "Generalized least squares fit by REML" in fit.summary()
    pred = fit.predict(orth.head(3))
    np.testing.assert_allclose(pred.to_numpy(), fit.fitted().to_numpy()[:3])
    assert fit.simulate(2, seed=1).shape == (108, 2)
    assert fit.df == 3 + 1 + 1
    tidy = mm.tidy(fit)
    assert list(tidy.term[:3]) == ["(Intercept)", "age", "SexFemale"]


def test_summary_and_tidy_report_the_structures() -> None:
    orth = mm.datasets.load("Orthodont")
    fit = mm.lmm(
        "distance ~ age + Sex + (1 | Subject)",
        orth,
        correlation="ar1(1 | Subject)",
        variance="ident(1 | Sex)",
    )
    text = fit.summary()
    assert "Correlation structure: ar1(1 | Subject)" in text
    assert "Variance function: ident(1 | Sex)" in text
    tidy = mm.tidy(fit)
    extra = tidy[(tidy.effect == "ran_pars") & tidy.term.isin(["Phi", "Female"])]
    assert list(extra.group) == ["Residual", "Residual"]
    sleep = mm.datasets.load("sleepstudy")
    ar1 = mm.lmm("Reaction ~ Days + ar1(0 + factor(Days) | Subject)", sleep, reml=False)
    assert "Subject ar1(): sd 46.08  phi 0.8789" in ar1.summary()
    plain = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    assert "Covariance structures" not in plain.summary()
    assert "Correlation structure" not in plain.summary()


@pytest.mark.parametrize(
    "correlation, variance",
    [("car1(time | g)", "ident(1 | sex)"), ("cs(1 | g)", None), (None, "power(w)")],
)
def test_one_term_direct_problem_equals_textbook(correlation: Any, variance: Any) -> None:
    """The one-term blocked problem (cross-products from per-group Gram matrices of the
    whitened slabs, or by bincount without a correlation) against the textbook."""
    prob = _random_problem(5, 60, True)
    frame, X, y = prob["frame"], prob["X"], prob["y"]
    terms = prob["terms"][:1]
    residual = bind_residual(correlation, variance, frame, frame.index, ["g"])
    limits = (_lmm_resid._DENSE_MAX_M, _lmm_resid._DIRECT_MAX_M)
    try:
        _lmm_resid._DENSE_MAX_M, _lmm_resid._DIRECT_MAX_M = 0, 10_000
        problem = ResidualLMMProblem(X, y, terms, residual)
    finally:
        _lmm_resid._DENSE_MAX_M, _lmm_resid._DIRECT_MAX_M = limits
    assert problem.kind == "direct"
    assert (problem._gram_plan is not None) == (correlation is not None)
    rng = prob["rng"]
    n = len(y)
    for reml in (True, False):
        theta = np.concatenate(
            [
                np.abs(rng.normal(size=problem.n_theta)) + 0.2,
                rng.normal(scale=0.5, size=problem.n_phi),
            ]
        )
        Z, Lam = _dense_Z_Lambda(terms, theta[: problem.n_theta], n)
        R = np.zeros((n, n))
        for rows, block in residual.covariance_blocks(theta[problem.n_theta :]):
            for r_, b in zip(rows, block, strict=True):
                R[np.ix_(r_, r_)] = b
        expected = _textbook(X, y, Z, Lam, R, reml)
        assert problem.objective(theta, reml) == pytest.approx(expected, rel=1e-9)
        value, grad = problem.gradient(theta, reml)
        assert grad is not None and value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("correlation", ["ar1(1 | g)", "car1(time | g)"])
def test_correlation_factors_of_several_group_sizes(correlation: str) -> None:
    # groups of sizes 2..6 (and singletons): the factors of all sizes come from one
    # padded batched Cholesky; each must be its own pattern's factor
    rng = np.random.default_rng(3)
    sizes = np.array([1, 2, 2, 3, 4, 4, 4, 5, 6, 6])
    g = np.repeat(np.arange(sizes.size), sizes)
    time = np.concatenate([np.sort(rng.uniform(0, 5, k)) for k in sizes])
    frame = pd.DataFrame({"g": g.astype(str), "time": time})
    residual = bind_residual(correlation, None, frame, frame.index, None)
    corr = np.array([0.4])
    factors = residual.correlation_factors(corr)
    assert factors is not None and len(factors) == len(residual.batches) > 1
    assert residual.correlation is not None
    for b, (L, logdet) in zip(residual.batches, factors, strict=True):
        C = residual.correlation.correlations(corr, b.patterns)
        np.testing.assert_allclose(L, np.linalg.cholesky(C), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(logdet, np.linalg.slogdet(C)[1], rtol=1e-12)


@pytest.mark.parametrize(
    "correlation",
    ["ar1(time | g)", "car1(time | g)", "arma(time | g, p = 1, q = 1)", "cs(1 | g)", "symm(1 | g)"],
)
@pytest.mark.parametrize("reml", [True, False])
def test_dense_correlation_gradient_is_analytic(correlation: str, reml: bool) -> None:
    """Dense inner problems: the derivative in the correlation's parameters comes from
    the whitening's chain rule (one whitening), not from differences of the criterion;
    it matches the criterion's central differences."""
    prob = _random_problem(11, 30, True)
    frame, X, y, terms = prob["frame"], prob["X"], prob["y"], prob["terms"]
    residual = bind_residual(correlation, None, frame, frame.index, ["g"])
    problem = ResidualLMMProblem(X, y, terms, residual)
    assert problem.kind == "dense"
    rng = prob["rng"]
    params = np.concatenate(
        [
            np.abs(rng.normal(size=problem.n_theta)) + 0.2,
            rng.normal(scale=0.4, size=problem.n_phi),
        ]
    )
    theta, phi = problem.split(params)
    inner = problem.inner_problem(params)
    analytic = problem._correlation_gradient(theta, phi, inner, reml)
    assert analytic is not None
    for i in range(phi.size):
        h = 1e-5 * max(1.0, abs(phi[i]))
        up, down = params.copy(), params.copy()
        up[problem.n_theta + i] += h
        down[problem.n_theta + i] -= h
        fd = (problem.objective(up, reml) - problem.objective(down, reml)) / (2 * h)
        assert analytic[i] == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_refits_with_new_weights_bind_the_structure_once() -> None:
    """A model refitted with other weights on the same rows (glmmPQL's working fits)
    reuses its bound residual structure; the fit equals a fresh model's."""
    prob = _random_problem(5, 30, False)
    frame = prob["frame"].assign(y=prob["y"], w2=lambda d: 1.0 / d["w"])
    model = mm.Model("y ~ x + (1 | g)", frame, weights="w", correlation="ar1(time | g)")
    first = model.fit(method="ml")
    bound = model._bound_residual[5]
    model.weights = frame["w2"].to_numpy()
    again = model.fit(method="ml")
    assert model._bound_residual[5] is bound
    fresh = mm.Model("y ~ x + (1 | g)", frame, weights="w2", correlation="ar1(time | g)")
    want = fresh.fit(method="ml")
    assert again.loglik == pytest.approx(want.loglik, rel=1e-10)
    assert again.loglik != pytest.approx(first.loglik, rel=1e-6)
    np.testing.assert_allclose(again.theta, want.theta, rtol=1e-6, atol=1e-8)
