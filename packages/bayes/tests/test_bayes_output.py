"""Output of a fit: brms's summary layout, tidiers, ArviZ, predictions, warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from mixedmodels_bayes import BayesResult, SamplingWarning, brm

import mixedmodels as mm


@pytest.fixture(scope="module")
def fit(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return brm(
            "Reaction ~ Days + (Days | Subject)",
            sleepstudy,
            priors=[
                "prior(normal(0, 20), class = b)",
                "prior(normal(250, 100), class = Intercept)",
            ],
            chains=2,
            draws=400,
            warmup=300,
            seed=7,
            progress=False,
            sample_prior="yes",
        )


def test_model_fit_and_brm_agree(fit, sleepstudy):
    assert isinstance(fit, BayesResult)
    assert fit.sampler == "collapsed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = mm.Model("Reaction ~ Days + (Days | Subject)", sleepstudy).fit(
            method="nuts",
            priors=[
                "prior(normal(0, 20), class = b)",
                "prior(normal(250, 100), class = Intercept)",
            ],
            chains=2,
            draws=400,
            warmup=300,
            seed=7,
            progress=False,
        )
    # same seed, same draws
    np.testing.assert_array_equal(other.scalars["b_Days"], fit.scalars["b_Days"])


def test_summary_layout(fit):
    text = str(fit.summary())
    assert "Group-Level Effects: \n~Subject (Number of levels: 18) " in text
    assert "Population-Level Effects: " in text
    assert "Family Specific Parameters: " in text
    header = "Estimate Est.Error l-95% CI u-95% CI Rhat Bulk_ESS Tail_ESS"
    assert text.count(header) == 3
    s = fit.summary()
    assert list(s.random["Subject"].index) == ["sd(Intercept)", "sd(Days)", "cor(Intercept,Days)"]
    assert list(s.fixed.index) == ["Intercept", "Days"]
    row = s.fixed.loc["Days"]
    draws = fit.scalars["b_Days"].reshape(-1)
    assert row["Estimate"] == pytest.approx(draws.mean())
    assert row["l-95% CI"] == pytest.approx(np.quantile(draws, 0.025))
    assert "sigma" in s.spec_pars.index


def test_b_intercept_uncentred(fit):
    d = fit.draws
    np.testing.assert_allclose(
        fit.scalars["b_Intercept"], d["Intercept"] - d["b"][..., 0] * 4.5, rtol=1e-12
    )


def test_tidy_glance_broom_mixed_columns(fit):
    t = mm.tidy(fit)
    assert list(t.columns) == [
        "effect",
        "component",
        "group",
        "term",
        "estimate",
        "std.error",
        "conf.low",
        "conf.high",
    ]
    assert list(t["term"]) == [
        "(Intercept)",
        "Days",
        "sd__(Intercept)",
        "sd__Days",
        "cor__(Intercept).Days",
        "sd__Observation",
    ]
    g = mm.glance(fit)
    assert list(g.columns) == ["algorithm", "pss", "nobs", "sigma"]
    assert g["pss"].iloc[0] == 800
    rv = mm.tidy(fit, effects="ran_vals")
    assert len(rv) == 36 and set(rv["level"]) == set(fit.data.terms[0].levels)


def test_inference_data(fit):
    idata = fit.idata
    for group in (
        "posterior",
        "sample_stats",
        "log_likelihood",
        "observed_data",
        "prior",
        "prior_predictive",
    ):
        assert group in idata.groups(), group
    assert idata.posterior["r_Subject"].shape == (2, 400, 18, 2)
    assert "diverging" in idata.sample_stats and "tree_depth" in idata.sample_stats
    assert idata.log_likelihood["y"].shape == (2, 400, 180)
    fit.add_posterior_predictive(seed=1)
    assert "posterior_predictive" in fit.idata.groups()
    loo = fit.loo()
    waic = fit.waic()
    assert np.isfinite(loo.elpd_loo) and np.isfinite(waic.elpd_waic)


def test_log_likelihood_is_gaussian_density(fit):
    from scipy import stats

    ll = fit.log_likelihood()
    eta = fit.posterior_epred()[5]
    sigma = fit.draws["sigma"].reshape(-1)[5]
    np.testing.assert_allclose(
        ll.reshape(-1, 180)[5], stats.norm.logpdf(fit.data.y, eta, sigma), rtol=1e-10
    )


def test_fixef_ranef_coef(fit):
    fx = fit.fixef()
    assert list(fx.columns) == ["Estimate", "Est.Error", "Q2.5", "Q97.5"]
    re = fit.ranef()["Subject"]
    co = fit.coef()["Subject"]
    assert re.shape == (18, 8)
    np.testing.assert_allclose(
        co[("Days", "Estimate")].to_numpy(),
        re[("Days", "Estimate")].to_numpy() + fx.loc["Days", "Estimate"],
        rtol=1e-10,
    )


def test_predict(fit, sleepstudy):
    p = fit.predict(sleepstudy.head(4), seed=3)
    assert list(p.columns) == ["Estimate", "Est.Error", "Q2.5", "Q97.5"]
    mean = fit.fitted(sleepstudy.head(4))["Estimate"].to_numpy()
    np.testing.assert_allclose(p["Estimate"], mean, atol=5 * 26 / np.sqrt(800))
    pop = fit.fitted(sleepstudy.head(1), re_form="NA", summary=False)
    np.testing.assert_allclose(pop[:, 0], fit.scalars["b_Intercept"].reshape(-1), rtol=1e-10)
    new = sleepstudy.head(2).copy()
    new["Subject"] = "999"
    with pytest.raises(ValueError, match="allow_new_levels"):
        fit.predict(new)
    wide = fit.fitted(new, allow_new_levels=True, seed=1)
    assert (wide["Est.Error"] > fit.fitted(sleepstudy.head(2))["Est.Error"]).all()
    with pytest.raises(ValueError, match="grouping factors"):
        fit.predict(re_form=["Nope"])


def test_bayes_r2(fit):
    r2 = fit.bayes_R2()
    assert 0.5 < r2.loc["R2", "Estimate"] < 0.95


def test_prior_summary(fit):
    ps = fit.prior_summary()
    user = ps[ps["source"] == "user"]
    assert set(user["class"]) == {"b", "Intercept"}


def test_pp_check(fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = fit.pp_check(ndraws=3, seed=1)
    try:
        assert len(ax.lines) == 4
    finally:
        plt.close(ax.figure)  # later tests count the open figures


def test_sampling_warning_on_too_few_draws(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.warns(SamplingWarning, match="Effective Samples Size"):
            brm(
                "Reaction ~ Days + (Days | Subject)",
                sleepstudy,
                chains=2,
                draws=20,
                warmup=20,
                seed=1,
                progress=False,
            )


def test_prior_predictive_only(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp = brm(
            "Reaction ~ Days + (1 | Subject)",
            sleepstudy,
            priors=["prior(normal(0, 10), class = b)"],
            sample_prior="only",
            chains=2,
            draws=2000,
            seed=2,
            progress=False,
        )
    assert pp.sampler == "prior"
    assert pp.idata.prior_predictive["y"].shape == (2, 2000, 180)
    sd = pp.scalars["sd_Subject__Intercept"].reshape(-1)
    # half student_t(3, 0, 59.3): median 59.3 * t_3(0.75)
    assert np.median(sd) == pytest.approx(59.3 * 0.7648923, rel=0.08)
    assert isinstance(pp.as_draws_df(), pd.DataFrame)
