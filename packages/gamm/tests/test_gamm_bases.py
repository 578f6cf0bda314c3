"""Cubic regression splines and factor-by smooths against R's gamm4 0.2-6 / mgcv 1.8-41.

References: tools/reference/gamm/gamm4_smooth_cases.R (the CSV holds mgcv's basis
columns of each case, ``predict(gam, type = "lpmatrix")``).  log-likelihood (REML)
1e-6 relative, fitted values and each fitted smooth 1e-4; edf 1e-3 (lme4 stops its
optimiser ~1e-10 short of the maximum in log-likelihood, ours is at least as high,
which moves the edf in the 5th digit).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mixedmodels_gamm import gamm4
from mixedmodels_gamm._cr import cr_basis

REF = Path(__file__).parent / "reference"
CASES = {
    "gamm4_cr": 'y ~ s(x, bs = "cr")',
    "gamm4_by": "y ~ f + s(x, by = f)",
    "gamm4_by_cr": 'y ~ f + s(x, by = f, bs = "cr", k = 6)',
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "gamm_smooths.csv")


def _ref(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def test_cr_basis_is_mgcvs_own(data):
    # same coordinates as mgcv (values at quantile knots, Householder constraint)
    b = cr_basis(data["x"].to_numpy())
    mgcv = data[[f"gamm4_cr__s(x)__{j}" for j in range(1, 10)]].to_numpy()
    np.testing.assert_allclose(b.X, mgcv, atol=1e-12)
    np.testing.assert_allclose(b.predict_matrix(data["x"].to_numpy()[:7]), mgcv[:7], atol=1e-12)


def test_cr_basis_extrapolates_linearly():
    b = cr_basis(np.linspace(0.0, 1.0, 50), k=5)
    xs = np.array([-0.2, -0.1, 0.0])
    P = b.predict_matrix(xs)
    np.testing.assert_allclose(P[0] - P[1], P[1] - P[2], atol=1e-12)
    xs = np.array([1.0, 1.1, 1.2])
    P = b.predict_matrix(xs)
    np.testing.assert_allclose(P[2] - P[1], P[1] - P[0], atol=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_against_gamm4(case, data):
    ref = _ref(case)
    fit = gamm4(CASES[case], data[["g", "f", "x", "z", "y"]], random="(1 | g)")
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.loglik >= ref["logLik"] - 1e-8
    np.testing.assert_allclose(fit.fitted().to_numpy(), ref["fitted"], rtol=1e-4)
    assert fit.smooth_labels == list(ref["edf"])
    for lab, values in ref["smooth_fitted"].items():
        np.testing.assert_allclose(fit.smooth_values(lab).to_numpy(), values, atol=1e-4)
    edf = fit.edf()
    for lab, value in ref["edf"].items():
        assert edf[lab] == pytest.approx(value, rel=1e-3)
    assert fit.mer.sigma == pytest.approx(ref["sigma"], rel=1e-4)


def test_by_must_be_a_column(data):
    with pytest.raises(ValueError, match=r"by = 'h' is not a column"):
        gamm4("y ~ s(x, by = h)", data, random="(1 | g)")
    constant = data.copy()  # (defragmented)
    constant["one"] = 1.0
    with pytest.raises(ValueError, match=r"by = 'one' is constant"):
        gamm4("y ~ s(x, by = one)", constant, random="(1 | g)")


@pytest.mark.parametrize(
    ("case", "formula"), [("tp", "y ~ s(x, by = w)"), ("cr", 'y ~ s(x, by = w, bs = "cr", k = 6)')]
)
def test_numeric_by_against_gamm4(case, formula):
    """s(x, by = w), w numeric: mgcv's smooth times w without the centring constraint
    (reference: tools/reference/gamm/gamm4_numeric_by.R, gamm4 0.2-6)."""
    ref = json.loads((REF / "gamm4_numeric_by.json").read_text())[case]
    d = pd.read_csv(REF / "gamm_numby.csv")
    fit = gamm4(formula, d, random="(1 | g)")
    assert fit.smooth_labels == [ref["label"]] == ["s(x):w"]
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    np.testing.assert_allclose(fit.fitted().to_numpy(), ref["fitted"], rtol=1e-4)
    assert fit.edf()["s(x):w"] == pytest.approx(ref["edf"], rel=1e-5)
    assert fit.mer.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    # two unpenalised columns (w and w x, no constraint) besides the intercept
    assert len(fit.mer.fixef) == ref["n_fixed"] == 3


def test_cr_with_more_knots_than_values():
    d = pd.DataFrame({"x": np.repeat(np.arange(6.0), 10), "g": np.tile(list("abcde"), 12)})
    d["y"] = np.sin(d["x"]) + np.random.default_rng(1).normal(size=len(d))
    with pytest.raises(ValueError, match=r"s\(x\): k = 10 basis functions but the covariate"):
        gamm4('y ~ s(x, bs = "cr")', d, random="(1 | g)")


def test_test_stat_on_mgcvs_inputs():
    # mgcv's own p, X = gamm4's object$R columns, Vp, rank and residual df: the statistic
    # to rounding, the p-value to mgcv's Davies accuracy (2e-5; observed 4e-7)
    from mixedmodels_gamm._teststat import test_stat

    for t in json.loads((REF / "gamm4_teststat.json").read_text()):
        R = np.linalg.cholesky(np.array(t["XtX"])).T
        r = test_stat(np.array(t["p"]), R, np.array(t["V"]), t["rank"], t["res_df"])
        assert r.stat == pytest.approx(t["stat"], rel=1e-10), t["label"]
        assert r.rank == pytest.approx(t["ref_df"], rel=1e-12)
        assert r.pval == pytest.approx(t["pval"], abs=1e-6), t["label"]


def test_psum_chisq_is_exact_for_an_f_ratio():
    from mixedmodels_gamm._teststat import psum_chisq
    from scipy import stats

    for c in (0.02, 0.05, 0.1):
        p = psum_chisq(0.0, np.array([1.0, -c]), np.array([5.0, 341.0]))
        assert p == pytest.approx(stats.f.sf(c * 341 / 5, 5, 341), rel=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_smooth_table_against_summary_gam(case, data):
    ref = _ref(case)
    fit = gamm4(CASES[case], data[["g", "f", "x", "z", "y"]], random="(1 | g)")
    table = fit.smooth_table()
    assert list(table.columns) == ["edf", "Ref.df", "F", "p-value"]
    values = np.array(ref["s_table"]["values"]).reshape(len(table), 4)
    np.testing.assert_allclose(table.to_numpy()[:, :3], values[:, :3], rtol=1e-3)
    np.testing.assert_allclose(table["p-value"].to_numpy(), values[:, 3], atol=1e-6)


def test_printed_smooth_table_is_mgcvs(data):
    ref = _ref("gamm4_cr")
    fit = gamm4(CASES["gamm4_cr"], data[["g", "f", "x", "z", "y"]], random="(1 | g)")
    printed = ref["summary_printed"]
    i = printed.index("Approximate significance of smooth terms:")
    assert fit.format_smooth_table().splitlines() == printed[i : i + 5]


def test_t2_basis_is_mgcvs_fitting_basis(data):
    # gam.setup's columns for t2(x, z) (mgcv fits in these), up to column signs
    from mixedmodels_gamm._t2 import t2_basis

    b = t2_basis(data["x"].to_numpy(), data["z"].to_numpy())
    mgcv = data[[f"gamm4_t2__fit_basis__{j}" for j in range(1, 25)]].to_numpy()
    assert b.blocks == [9, 6, 6]
    np.testing.assert_allclose(np.abs(b.X), np.abs(mgcv), atol=1e-12)
    np.testing.assert_allclose(b.predict_matrix(data["x"][:5], data["z"][:5]), b.X[:5], atol=1e-12)


def test_t2_against_gamm4(data):
    ref = _ref("gamm4_t2")
    with pytest.warns(UserWarning, match="singular"):  # one penalty's variance is 0, as in R
        fit = gamm4("y ~ t2(x, z)", data[["g", "f", "x", "z", "y"]], random="(1 | g)")
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    np.testing.assert_allclose(fit.fitted().to_numpy(), ref["fitted"], rtol=1e-4)
    np.testing.assert_allclose(
        fit.smooth_values("t2(x,z)").to_numpy(), ref["smooth_fitted"]["t2(x,z)"], atol=1e-4
    )
    assert fit.edf()["t2(x,z)"] == pytest.approx(ref["edf"]["t2(x,z)"], rel=1e-4)
    v = fit.smooth_variances()
    assert list(v.index) == ["t2(x,z)[1]", "t2(x,z)[2]", "t2(x,z)[3]"]
    assert v.iloc[0] == pytest.approx(0.0, abs=1e-8)


def test_t2_bad_arguments(data):
    with pytest.raises(ValueError, match=r"t2\(\) takes two covariate columns"):
        gamm4("y ~ t2(x)", data, random="(1 | g)")
    with pytest.raises(ValueError, match=r"not supported in t2\(\)"):
        gamm4("y ~ t2(x, z, bs = 'tp')", data, random="(1 | g)")
    with pytest.raises(ValueError, match="use t2"):
        gamm4("y ~ te(x, z)", data, random="(1 | g)")


@pytest.mark.parametrize("k", [5, 10, 20])
def test_lanczos_eigenpairs_are_the_full_decompositions(data, k):
    # the tprs basis takes E's k eigenpairs of largest |value| by Lanczos (as mgcv)
    from mixedmodels_gamm._tprs import _eta, _leading_eigenpairs

    u = np.unique(data["x"].to_numpy())
    E = _eta(u, u)
    np.testing.assert_allclose(E, np.abs(u[:, None] - u[None, :]) ** 3 / 12, rtol=1e-14)
    evals, evecs = np.linalg.eigh(E)
    order = np.argsort(-np.abs(evals))[:k]
    vals, vecs = _leading_eigenpairs(E, k)
    np.testing.assert_allclose(vals, evals[order], rtol=1e-10)
    signs = np.sign(np.sum(vecs * evecs[:, order], axis=0))
    np.testing.assert_allclose(vecs, evecs[:, order] * signs, atol=1e-10)
    small_vals, _ = _leading_eigenpairs(E[:30, :30], 5)  # the full-eigh branch
    e30 = np.linalg.eigvalsh(E[:30, :30])
    np.testing.assert_allclose(small_vals, e30[np.argsort(-np.abs(e30))[:5]], rtol=1e-12)
