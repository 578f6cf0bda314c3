"""gamm4 against R's gamm4 0.2-6 / mgcv 1.8-41.

log-likelihood (REML, lme4 part) 1e-6 relative, fitted smooth 1e-4, edf 1e-5; the
smooth's F statistic to 1e-4 (with a fractional edf mgcv's statistic depends on its
basis coordinates through an eigenvector sign convention), p-value to 1e-6 absolute.  The
variance of a smooth's penalised coefficients is not compared: it depends on mgcv's
basis coordinates and penalty scaling (the function space, the penalty up to scale,
the fit, the smooth and its edf do not).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mixedmodels_gamm import gamm4, tprs

import mixedmodels as mm

REF = Path(__file__).parent / "reference"


def _case(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return pd.read_csv(REF / "gamm_sim.csv")


def test_gamm4_basis_columns_fit(sim):
    # gamm4's own mixed-model columns, fitted by the core's LMM: the fitting part alone
    ref = _case("gamm4_sim_smooth_ranint")["results"]
    d = sim.assign(one="1")
    z = " + ".join(f"sx_Z{i}" for i in range(1, 9))
    fit = mm.lmm(f"y ~ sx_F1 + (1 | g) + homdiag(0 + {z} | one)", d)
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.varcorr()["sdcor"].iloc[1] == pytest.approx(
        ref["smooth_variance_components"]["s(x)"]["sd"], rel=1e-4
    )


def test_our_basis_spans_gamm4s(sim):
    b = tprs(sim["x"].to_numpy())
    zg = sim[[f"sx_Z{i}" for i in range(1, 9)]].to_numpy()
    A = np.column_stack([np.ones(len(sim)), sim["sx_F1"], zg])
    coef = np.linalg.lstsq(A, b.X, rcond=None)[0]
    np.testing.assert_allclose(A @ coef, b.X, atol=1e-10)


def test_gamm4_sim_smooth_ranint(sim):
    ref = _case("gamm4_sim_smooth_ranint")["results"]
    fit = gamm4("y ~ s(x)", sim[["g", "x", "y"]], random="~ (1 | g)")
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    # homdiag's factor is linear in theta: the dense exact-Newton path, not L-BFGS-B
    assert fit.mer.optimizer.method == "newton"
    np.testing.assert_allclose(fit.fitted().to_numpy()[:10], ref["fitted_first10"], rtol=1e-4)
    assert fit.edf()["s(x)"] == pytest.approx(ref["gam_s_table"]["values"][0][0], rel=1e-5)
    assert fit.edf()["total"] == pytest.approx(ref["gam_edf_total"], rel=1e-5)
    assert fit.mer.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    table = fit.smooth_table()
    assert table.loc["s(x)", "F"] == pytest.approx(ref["gam_s_table"]["values"][0][2], rel=1e-4)
    assert table.loc["s(x)", "p-value"] == pytest.approx(
        ref["gam_s_table"]["values"][0][3], abs=1e-6
    )
    se = fit.smooth_se()
    assert (se > 0).all()


def test_gamm4_two_smooths():
    ref = _case("gamm4_two_smooths")
    d = pd.read_csv(REF / "gamm_two.csv")
    fit = gamm4("y ~ s(x) + s(z)", d, random="(1 | g)")
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    np.testing.assert_allclose(fit.fitted().to_numpy(), ref["fitted"], rtol=1e-4)
    for lab in ("s(x)", "s(z)"):
        assert fit.edf()[lab] == pytest.approx(ref["edf"][lab], rel=1e-5)
    table = fit.smooth_table()
    np.testing.assert_allclose(table["F"], [r[2] for r in ref["s_table"]["values"]], rtol=1e-4)
    np.testing.assert_allclose(
        table["p-value"], [r[3] for r in ref["s_table"]["values"]], atol=1e-6
    )
    tab = mm.tidy(fit)
    assert tab["term"].tolist() == ["s(x)", "s(z)"]


def test_smooth_with_more_basis_functions_than_values():
    d = pd.DataFrame({"x": np.repeat(np.arange(6.0), 10), "g": np.tile(list("abcde"), 12)})
    d["y"] = np.sin(d["x"]) + np.random.default_rng(1).normal(size=len(d))
    with pytest.raises(
        ValueError, match=r"s\(x\): k = 10 basis functions but the covariate has only 6"
    ):
        gamm4("y ~ s(x)", d, random="(1 | g)")


def test_unsupported_smooths_say_so(sim):
    with pytest.raises(ValueError, match="te\\(\\)/ti\\(\\) tensor products are not supported"):
        gamm4("y ~ te(x, g)", sim, random="(1 | g)")
    with pytest.raises(ValueError, match="basis 'ps' is not supported"):
        gamm4("y ~ s(x, bs = 'ps')", sim, random="(1 | g)")


def test_plot_smooth(sim):
    plt = pytest.importorskip("matplotlib.pyplot")
    fit = gamm4("y ~ s(x)", sim[["g", "x", "y"]], random="(1 | g)")
    ax = fit.plot_smooth("s(x)")
    assert ax.get_xlabel() == "x"
    plt.close("all")
