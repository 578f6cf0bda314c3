"""Parametric bootstrap (:func:`mixedmodels.bootstrap`, lme4's ``bootMer``) and the
bootstrap likelihood-ratio test (:func:`mixedmodels.pb_modcomp`, pbkrtest's
``PBmodcomp``).

Bootstrap numbers depend on the random streams, so R's cannot be reproduced; what is
checked: reproducibility for a seed whatever the number of workers, boot's interval
formulas on known replicates (R's ``boot:::norm.inter`` figures), agreement with the
exact statistic where there is one (the LRT), and clear errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

# Private: R's norm.inter (boot) interpolation is tested directly.
from mixedmodels.inference.bootstrap import BootstrapResult, _norm_inter

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fit(sleep: pd.DataFrame) -> Any:
    return mm.lmm(SLEEP, sleep)


def test_same_seed_same_replicates_whatever_the_workers(fit: Any) -> None:
    one = mm.bootstrap(fit, nsim=60, seed=42, n_jobs=1, progress=False)
    two = mm.bootstrap(fit, nsim=60, seed=42, n_jobs=2, progress=False)
    three = mm.bootstrap(fit, nsim=60, seed=42, n_jobs=3, progress=False)
    assert one.replicates.shape == (60, 6)
    np.testing.assert_array_equal(one.replicates.to_numpy(), two.replicates.to_numpy())
    np.testing.assert_array_equal(one.replicates.to_numpy(), three.replicates.to_numpy())
    # The first replicates do not depend on how many there are.
    fewer = mm.bootstrap(fit, nsim=7, seed=42, progress=False)
    np.testing.assert_array_equal(fewer.replicates.to_numpy(), one.replicates.to_numpy()[:7])
    other = mm.bootstrap(fit, nsim=7, seed=43, progress=False)
    assert not np.allclose(other.replicates.to_numpy(), fewer.replicates.to_numpy())
    assert one.seed == 42 and one.n_failed == 0


def test_default_statistic_and_summary(fit: Any) -> None:
    boot = mm.bootstrap(fit, nsim=40, seed=1, progress=False)
    assert list(boot.t0.index) == [
        "sd_(Intercept)|Subject",
        "cor_Days.(Intercept)|Subject",
        "sd_Days|Subject",
        "sigma",
        "(Intercept)",
        "Days",
    ]
    np.testing.assert_allclose(boot.t0["Days"], fit.fixef["Days"])
    np.testing.assert_allclose(boot.t0["sigma"], fit.sigma)
    summary = boot.summary()
    assert list(summary.columns) == ["original", "bootBias", "bootSE", "bootMed"]
    # Sampling variability of the fixed effects is close to their standard errors.
    ratio = summary.loc[["(Intercept)", "Days"], "bootSE"] / fit.fixef_se
    assert ((ratio > 0.6) & (ratio < 1.5)).all()


def test_custom_statistic(fit: Any) -> None:
    def slope(f: Any) -> float:
        return float(f.fixef["Days"])

    boot = mm.bootstrap(fit, nsim=20, seed=3, statistic=slope, progress=False)
    assert list(boot.replicates.columns) == ["t1"]
    named = mm.bootstrap(
        fit,
        nsim=20,
        seed=3,
        statistic=lambda f: {"slope": f.fixef["Days"], "sigma": f.sigma},
        n_jobs=2,
        progress=False,
    )
    np.testing.assert_array_equal(named.replicates["slope"], boot.replicates["t1"])


def test_interval_formulas_are_boots() -> None:
    # R: boot:::norm.inter(t, c(0.025, 0.975, 0.05, 0.95, 0.5)) for these 20 values.
    t = np.array([3.1, 0.2, 5.5, 2.2, 9.1, 4.4, 7.7, 1.3, 6.6, 8.8])
    t = np.concatenate([t, [0.5, 2.9, 4.1, 6.2, 7.3, 5.9, 3.3, 1.8, 9.9, 4.7]])
    np.testing.assert_allclose(
        _norm_inter(t, np.array([0.025, 0.975, 0.05, 0.95, 0.5])),
        [0.2, 9.9, 0.219657258438442, 9.847580644164152, 4.550000000000001],
        rtol=1e-12,
    )
    boot = BootstrapResult(pd.Series({"a": 5.0}), pd.DataFrame({"a": t}), seed=0)
    perc = boot.confint(level=0.9)
    assert list(perc.columns) == ["5 %", "95 %"]
    np.testing.assert_allclose(perc.loc["a"], [0.219657258438442, 9.847580644164152])
    basic = boot.confint(level=0.9, type="basic")
    np.testing.assert_allclose(basic.loc["a"], [10.0 - 9.847580644164152, 10.0 - 0.219657258438442])
    norm = boot.confint(level=0.9, type="norm")
    bias = t.mean() - 5.0
    half = 1.6448536269514722 * t.std(ddof=1)
    np.testing.assert_allclose(norm.loc["a"], [5.0 - bias - half, 5.0 - bias + half])
    with pytest.raises(ValueError, match="unknown interval type 'bca'"):
        boot.confint(type="bca")


def test_confint_boot_method(fit: Any) -> None:
    ci = fit.confint(method="boot", nsim=60, seed=5, progress=False)
    assert list(ci.index) == list(mm.bootstrap(fit, nsim=2, seed=1, progress=False).t0.index)
    assert (ci.iloc[:, 0] < ci.iloc[:, 1]).all()
    days = ci.loc["Days"].to_numpy()
    assert days[0] < fit.fixef["Days"] < days[1]
    again = fit.confint(method="boot", nsim=60, seed=5, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(ci, again)


def test_tidy_with_profile_and_boot_intervals(fit: Any) -> None:
    t = mm.tidy(fit, conf_int=True, conf_method="profile", progress=False)
    prof = fit.confint(progress=False)
    ran = t[t["effect"] == "ran_pars"]
    np.testing.assert_allclose(ran["conf.low"], prof.iloc[:4, 0])
    np.testing.assert_allclose(ran["conf.high"], prof.iloc[:4, 1])
    np.testing.assert_allclose(t["conf.low"][:2], prof.iloc[4:, 0])
    tb = mm.tidy(fit, conf_int=True, conf_method="boot", nsim=30, seed=1, progress=False)
    assert tb[["conf.low", "conf.high"]].notna().all().all()


def test_bad_input(fit: Any) -> None:
    with pytest.raises(ValueError, match=r"nsim must be a positive integer.*got 0"):
        mm.bootstrap(fit, nsim=0)
    with pytest.raises(ValueError, match="nsim must be a positive integer"):
        mm.bootstrap(fit, nsim=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        mm.bootstrap(fit, nsim=2, seed=-1)
    with pytest.raises(TypeError, match="cannot refit"):
        # Private: the replicate refit used by the workers.
        from mixedmodels.inference.bootstrap import refit

        refit(object(), np.zeros(3))


def test_pb_modcomp(sleep: pd.DataFrame) -> None:
    small = mm.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    large = mm.lmm(SLEEP, sleep)
    table = mm.pb_modcomp(large, small, nsim=40, seed=7, progress=False)
    assert list(table.index) == ["LRT", "PBtest"]
    assert list(table.columns) == ["stat", "df", "p.value"]
    # The LRT of the ML refits: lme4's anova(m0, m1) figures.
    np.testing.assert_allclose(table.loc["LRT", "stat"], 42.139298516234931, rtol=1e-6)
    assert table.loc["LRT", "df"] == 2
    np.testing.assert_allclose(table.loc["LRT", "p.value"], 7.0724126383985394e-10, rtol=1e-5)
    ref = np.asarray(table.attrs["reference"])
    assert ref.shape == (40,) and np.all(ref[np.isfinite(ref)] >= -1e-6)
    # None of 40 null replicates gets near 42: p = 1 / (1 + number of positive ones).
    assert table.attrs["n_extreme"] == 0
    np.testing.assert_allclose(table.loc["PBtest", "p.value"], 1 / (1 + table.attrs["n_positive"]))
    again = mm.pb_modcomp(small, large, nsim=40, seed=7, n_jobs=2, progress=False)
    np.testing.assert_array_equal(np.asarray(again.attrs["reference"]), ref)
    with pytest.raises(ValueError, match="nsim must be a positive integer"):
        mm.pb_modcomp(large, small, nsim=0)


def test_pb_modcomp_refuses_non_nested_or_different_data(sleep: pd.DataFrame) -> None:
    a = mm.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    b = mm.lmm("Reaction ~ 1 + (Days || Subject)", sleep)
    with pytest.raises(ValueError, match="not nested"):
        mm.pb_modcomp(b, a, nsim=5)
    c = mm.lmm(SLEEP, sleep.iloc[:150])
    with pytest.raises(ValueError, match="same number of observations"):
        mm.pb_modcomp(c, a, nsim=5)


def test_glmm_bootstrap() -> None:
    g = mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        mm.datasets.load("cbpp"),
        family="binomial",
    )
    boot = mm.bootstrap(g, nsim=4, seed=1, progress=False)
    assert "sigma" not in boot.t0.index
    assert boot.n_failed == 0
    assert boot.replicates["period2"].std() > 0
