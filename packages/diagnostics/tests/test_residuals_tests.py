"""DHARMa's residual tests, against R (stats, lmtest, ape and DHARMa's formulas on an
lme4 simulation matrix; see tools/reference/dharma_reference.R), and bad input.

The test functions are reached through the module (``mmd.test_uniformity``) so that
pytest does not collect them as tests."""

from __future__ import annotations

import json
from pathlib import Path

import mixedmodels_diagnostics as mmd
import numpy as np
import pandas as pd
import pytest
from mixedmodels_diagnostics._dharma_diagnostic import DharmaDiagnostic
from mixedmodels_diagnostics._residual_test_result import get_p, p_adjust_bh

import mixedmodels as mm
from mixedmodels.testing import Check, diagnostic_checks

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "dharma_poisson_reference.json").read_text())


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "dharma_poisson_data.csv")


@pytest.fixture(scope="module")
def from_r(data: pd.DataFrame) -> mmd.ScaledResiduals:
    sims = pd.read_csv(REF / "dharma_poisson_simulations.csv").to_numpy()
    return mmd.ScaledResiduals.from_simulations(data["y"], sims, data["fitted"], seed=1)


@pytest.fixture(scope="module")
def midpoints(from_r: mmd.ScaledResiduals, ref: dict) -> mmd.ScaledResiduals:
    """The R script's fixed residual vector: PIT midpoints."""
    mid = (np.array(ref["lower"]) + np.array(ref["upper"])) / 2
    return mmd.ScaledResiduals(
        from_r.observed, from_r.simulated, from_r.fitted, mid, integer_response=True
    )


def test_dispersion_matches_dharma(from_r, ref) -> None:
    out = mmd.test_dispersion(from_r)
    assert out.statistic == pytest.approx(ref["dispersion"]["statistic"], rel=1e-12)
    assert out.details["observed"] == pytest.approx(ref["dispersion"]["observed"], rel=1e-12)
    assert out.p_value == pytest.approx(ref["dispersion"]["p_value"], abs=1e-12)
    assert out.alternative == "two.sided" and out["statistic_name"] == "dispersion"


def test_zero_inflation_matches_dharma(from_r, ref) -> None:
    out = mmd.test_zero_inflation(from_r)
    assert out.statistic == pytest.approx(ref["zero_inflation"]["statistic"], rel=1e-12)
    assert out.p_value == pytest.approx(ref["zero_inflation"]["p_value"], abs=1e-12)


def test_ks_matches_r(midpoints, ref) -> None:
    out = mmd.test_uniformity(midpoints)
    assert out.statistic == pytest.approx(ref["ks"]["statistic"], rel=1e-12)
    assert out.p_value == pytest.approx(ref["ks"]["p_value"], rel=1e-6)


def test_binomial_outliers_match_r(midpoints, ref) -> None:
    out = mmd.test_outliers(midpoints, type="binomial")
    assert out.statistic == ref["outliers"]["statistic"]
    assert out.p_value == pytest.approx(ref["outliers"]["p_value"], rel=1e-9)


def test_durbin_watson_matches_lmtest(midpoints, data, ref) -> None:
    approx = mmd.test_temporal_autocorrelation(midpoints, data["time"])
    assert approx.statistic == pytest.approx(ref["dwtest_approx"]["statistic"], rel=1e-12)
    assert approx.p_value == pytest.approx(ref["dwtest_approx"]["p_value"], rel=1e-9)
    assert not approx.details["exact"]
    small = mmd.ScaledResiduals(
        midpoints.observed[:80],
        midpoints.simulated[:80],
        midpoints.fitted[:80],
        midpoints.residuals.to_numpy()[:80],
    )
    time80 = data["time"].to_numpy()[:80].argsort().argsort()
    exact = mmd.test_temporal_autocorrelation(small, time80)
    assert exact.details["exact"]
    assert exact.statistic == pytest.approx(ref["dwtest_exact"]["statistic"], rel=1e-12)
    assert exact.p_value == pytest.approx(ref["dwtest_exact"]["p_value"], abs=1e-6)
    greater = mmd.test_temporal_autocorrelation(small, time80, alternative="greater")
    assert greater.p_value == pytest.approx(ref["dwtest_exact_greater"]["p_value"], abs=1e-6)


def test_moran_matches_ape(midpoints, data, ref) -> None:
    out = mmd.test_spatial_autocorrelation(midpoints, data["cx"], data["cy"])
    assert out.statistic == pytest.approx(ref["moran"]["observed"], rel=1e-10)
    assert out.details["expected"] == pytest.approx(ref["moran"]["expected"], rel=1e-12)
    assert out.details["sd"] == pytest.approx(ref["moran"]["sd"], rel=1e-10)
    assert out.p_value == pytest.approx(ref["moran"]["p_value"], rel=1e-9)
    greater = mmd.test_spatial_autocorrelation(midpoints, data["cx"], data["cy"], "greater")
    assert greater.p_value == pytest.approx(ref["moran_greater"]["p_value"], rel=1e-9)


def test_get_p_and_bh_as_r() -> None:
    sim = np.arange(10.0)
    assert get_p(sim, 8.0, "greater") == pytest.approx(0.2)
    assert get_p(sim, 8.0, "less") == pytest.approx(0.9)
    assert get_p(sim, 8.0, "two.sided") == pytest.approx(0.4)
    # p.adjust(c(0.01, 0.04, 0.03, 0.5), "BH") = 0.04 0.0533 0.0533 0.5
    np.testing.assert_allclose(
        p_adjust_bh(np.array([0.01, 0.04, 0.03, 0.5])), [0.04, 0.16 / 3, 0.16 / 3, 0.5]
    )


def test_outlier_bootstrap_and_default(from_r) -> None:
    boot = mmd.test_outliers(from_r, type="bootstrap", n_boot=50, seed=1)
    assert boot.method == "DHARMa bootstrapped outlier test"
    assert 0 <= boot.p_value <= 1 and boot.details["bootstrap"].size == 50
    # Integer response with n < 500: the default is the bootstrap, as DHARMa.
    assert mmd.test_outliers(from_r, n_boot=10, seed=1).method == boot.method


def test_quantiles_flat_for_uniform_and_detects_a_trend() -> None:
    rng = np.random.default_rng(5)
    n = 600
    pred = rng.random(n)
    flat = mmd.ScaledResiduals(np.zeros(n), np.zeros((n, 10)), pred, rng.random(n))
    out = mmd.test_quantiles(flat)
    assert out.p_value > 0.01 and out.details["p_values"].shape == (3,)
    curves = out.details["predictions"]
    assert list(curves.columns) == ["pred", "q0.25", "q0.5", "q0.75"]
    assert np.abs(curves["q0.5"] - 0.5).mean() < 0.08
    trend = mmd.ScaledResiduals(np.zeros(n), np.zeros((n, 10)), pred, rng.random(n) ** (0.5 + pred))
    assert mmd.test_quantiles(trend, curves=False).p_value < 1e-3


def test_wrong_length_coordinates_and_times(midpoints) -> None:
    n = midpoints.n_obs
    with pytest.raises(ValueError, match=rf"x has length {n - 1} .* length {n}"):
        mmd.test_spatial_autocorrelation(midpoints, np.arange(n - 1), np.arange(n))
    with pytest.raises(ValueError, match=rf"y has length {n + 2} .* length {n}"):
        mmd.test_spatial_autocorrelation(midpoints, np.arange(n), np.arange(n + 2))
    with pytest.raises(ValueError, match=rf"time has length 3 .* length {n}"):
        mmd.test_temporal_autocorrelation(midpoints, [1, 2, 3])
    with pytest.raises(ValueError, match="repeated"):
        mmd.test_temporal_autocorrelation(midpoints, np.zeros(n))
    with pytest.raises(ValueError, match="repeat a location"):
        mmd.test_spatial_autocorrelation(midpoints, np.zeros(n), np.zeros(n))
    with pytest.raises(ValueError, match="predictor has length 2"):
        mmd.test_quantiles(midpoints, predictor=[1, 2])
    with pytest.raises(ValueError, match="alternative"):
        mmd.test_uniformity(midpoints, alternative="both")


def test_pearson_chisq_needs_a_fit(from_r) -> None:
    with pytest.raises(ValueError, match="needs the fitted model"):
        mmd.test_dispersion(from_r, type="PearsonChisq")


@pytest.fixture(scope="module")
def poisson_fit(data: pd.DataFrame) -> mm.GLMMResult:
    frame = data.assign(g=data["g"].astype(str))
    return mm.glmm("y ~ x + (1|g)", frame, family="poisson")


def test_tests_accept_a_fit_directly(poisson_fit) -> None:
    out = mmd.test_zero_inflation(poisson_fit)
    assert 0 <= out.p_value <= 1
    parametric = mmd.test_dispersion(
        mmd.simulate_residuals(poisson_fit, n=50, seed=1), type="PearsonChisq"
    )
    assert parametric.details["rdf"] == 200 - 3


_DHARMA = DharmaDiagnostic()


# The fit is a fixture: list the checks with `result=...`, give it when calling.
@pytest.mark.parametrize(("name", "check"), list(diagnostic_checks(_DHARMA, result=...)))
def test_dharma_diagnostic_conforms(name: str, check: Check, poisson_fit) -> None:
    check(_DHARMA, result=poisson_fit)


def test_dharma_diagnostic_reports(poisson_fit) -> None:
    diag = DharmaDiagnostic()
    table = diag.run(poisson_fit, n=100, seed=1)
    assert list(table["check"]) == ["uniformity", "dispersion", "outliers", "zero_inflation"]
    assert set(table["verdict"]) <= {"ok", "warning", "problem"}
    assert "LMMResult or GLMMResult" in str(diag.supports("not a fit"))


def test_dharma_runs_through_mm_check(poisson_fit) -> None:
    report = mm.check(poisson_fit, "dharma", verbose=False, seed=2, n=100)
    assert (report["diagnostic"] == "dharma").all() and len(report) == 4
    with pytest.raises(TypeError, match=r"'dharma' does not apply.*GLMMResult"):
        mm.check(object(), "dharma", verbose=False)
