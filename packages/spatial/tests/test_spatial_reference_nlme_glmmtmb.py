"""The shared reference cases (nlme's corExp/corRatio, glmmTMB's exp()/mat()):
log-likelihood 1e-6 relative, fixed effects and structure parameters 1e-4 relative."""

from __future__ import annotations

import mixedmodels_spatial as ms
import numpy as np
import pytest
from spatial_helpers import reference_case, reference_data

import mixedmodels as mm


def _table(fit):
    return fit.structure_parameters().set_index("term")


def test_gls_corexp_nugget_ml():
    case = reference_case("gls_spatial_corexp_nugget_ml")
    ref = case["results"]
    fit = mm.gls(
        "z ~ x1",
        reference_data(case["case_id"]),
        correlation="exp(sx + sy, nugget = TRUE)",
        reml=False,
    )
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    for name, value in ref["coef"].items():
        assert fit.fixef[name] == pytest.approx(value, rel=1e-4)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    table = _table(fit)
    for term in ("range", "nugget"):
        assert table.loc[term, "estimate"] == pytest.approx(
            ref["corStruct"]["coef"][term], rel=1e-4
        )
    # nlme's intervals(): Wald on the unconstrained scale (log range, logit nugget).
    ivals = ref["intervals_95"]["corStruct"]
    for term, (lo, _, hi) in zip(ivals["rownames"], ivals["values"], strict=True):
        assert table.loc[term, "conf.low"] == pytest.approx(lo, rel=2e-3)
        assert table.loc[term, "conf.high"] == pytest.approx(hi, rel=2e-3)
    assert table.loc["range", "structure"] == "exp"


@pytest.mark.parametrize(
    ("case_id", "formula", "correlation", "name"),
    [
        ("lme_spatial_corexp_reml", "z ~ x1 + (1 | site)", "exp(sx + sy | site)", "exp"),
        (
            "lme_spatial_corratio_reml",
            "z ~ x1 + x2 + (1 | site)",
            "ratio(sx + sy | site)",
            "ratio",
        ),
    ],
)
def test_lme_spatial_reml(case_id, formula, correlation, name):
    ref = reference_case(case_id)["results"]
    fit = mm.lmm(formula, reference_data(case_id), correlation=correlation)
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    for term, value in ref["fixef"].items():
        assert fit.fixef[term] == pytest.approx(value, rel=1e-4)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    table = _table(fit)
    assert table.loc["range", "estimate"] == pytest.approx(
        ref["corStruct"]["coef"]["range"], rel=1e-4
    )
    sd = ref["varcorr"]["site"]["sd"]["(Intercept)"]
    ran = fit.structure_parameters(conf_int=False).query("effect == 'ran_pars'")
    assert ran["estimate"].iloc[0] == pytest.approx(sd, rel=1e-4)
    lo, _, hi = ref["intervals_95"]["corStruct"]["values"][0]
    assert table.loc["range", "conf.low"] == pytest.approx(lo, rel=2e-3)
    assert table.loc["range", "conf.high"] == pytest.approx(hi, rel=2e-3)


@pytest.mark.parametrize(
    ("case_id", "wrapper"),
    [("glmmtmb_spatial_exp_gaussian", "exp"), ("glmmtmb_spatial_matern_gaussian", "mat")],
)
def test_glmmtmb_field(case_id, wrapper):
    ref = reference_case(case_id)["results"]
    data = reference_data(case_id)
    fit = mm.lmm(f"y ~ x + {wrapper}(pos + 0 | group)", data, reml=False)
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    for term, value in ref["fixef"]["cond"]["estimate"].items():
        assert fit.fixef[term] == pytest.approx(value, rel=1e-4)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    table = _table(fit)
    spatial = ref["spatial"]
    assert table.loc["sd", "estimate"] == pytest.approx(spatial["sd"], rel=1e-4)
    assert table.loc["range", "estimate"] == pytest.approx(spatial["range"], rel=1e-4)
    if wrapper == "mat":
        assert table.loc["smoothness", "estimate"] == pytest.approx(spatial["smoothness"], rel=1e-4)
    # glmmTMB's log-scale theta.
    theta = ms.glmmtmb_theta(fit)
    expected = list(ref["theta"].values())
    np.testing.assert_allclose(theta.to_numpy(), expected, rtol=1e-4, atol=1e-5)
    # Range intervals on the log scale: positive.
    assert 0 < table.loc["range", "conf.low"] < table.loc["range", "estimate"]


def test_spamm_syntax_is_the_glmmtmb_field():
    ref = reference_case("glmmtmb_spatial_matern_gaussian")["results"]
    data = reference_data("glmmtmb_spatial_matern_gaussian")
    formula, prepared = ms.from_spamm("y ~ x + Matern(1 | gx + gy)", data)
    assert formula == "y ~ x + mat(0 + Matern_gx_gy | Matern_field)"
    fit = mm.lmm(formula, prepared, reml=False)
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)


def test_spamm_syntax_inside_mm_lmm():
    # spaMM's term read by mm.lmm itself (the plugin's formula rewriter).
    ref = reference_case("glmmtmb_spatial_matern_gaussian")["results"]
    data = reference_data("glmmtmb_spatial_matern_gaussian")
    fit = mm.lmm("y ~ x + Matern(1 | gx + gy)", data, reml=False)
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    for term, value in ref["fixef"]["cond"]["estimate"].items():
        assert fit.fixef[term] == pytest.approx(value, rel=1e-4)
    table = _table(fit)
    assert table.loc["range", "estimate"] == pytest.approx(ref["spatial"]["range"], rel=1e-4)
    assert table.loc["smoothness", "estimate"] == pytest.approx(
        ref["spatial"]["smoothness"], rel=1e-4
    )
    assert "Matern" not in set(data.columns) and "Matern_gx_gy" not in data.columns
