"""The families of issue 15's second round against glmmTMB 1.1.5
(``tools/reference/glmmtmb_families/new_families.R``): compois, betabinomial, ordbeta
from glmmTMB itself; lognormal and nbinom12 (glmmTMB 1.1.6 / 1.1.8, not in 1.1.5) from
TMB with glmmTMB's density code; prior weights; ``predict(newdata)``.  Log-likelihood
1e-6 relative, fixed effects of every component and dispersion / shape 1e-4 relative
(or 1e-4 of the standard error for a parameter the data barely determine), random-
effect SDs 1e-3, standard errors 1e-3."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tmb_helpers import REFERENCE, load_case

import mixedmodels as mm

REF = json.loads((REFERENCE / "glmmtmb_new_families.json").read_text())


def _sim(name: str) -> pd.DataFrame:
    data = pd.read_csv(REFERENCE / f"{name}_sim.csv")
    data["g"] = pd.Categorical(data["g"].astype(str))
    return data


def _close(got: Any, want: Any, se: Any, what: str) -> None:
    got, want, se = (np.asarray(v, dtype=np.float64) for v in (got, want, se))
    tol = np.maximum(1e-4 * np.abs(want), 1e-4 * se)
    np.testing.assert_array_less(np.abs(got - want), tol, err_msg=what)


def _check_glmmtmb(fit: Any, ref: dict[str, Any]) -> None:
    assert fit.converged, fit.messages
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.df == ref["df"]
    for comp, est in ref["fixef"].items():
        want = np.array(list(est.values()))
        se = np.array(list(ref["se"][comp].values())) if comp in ref["se"] else np.zeros(1)
        if comp == "disp":
            se = np.sqrt(np.diag(fit.vcov_component("disp").to_numpy()))
        _close(fit.fixef_component(comp).to_numpy(), want, se, comp)
        if comp in ref["se"]:
            np.testing.assert_allclose(fit.coef_table(comp)["Std. Error"], se, rtol=1e-3)
    for comp, groups in ref["sd"].items():
        for g, sd in groups.items():
            row = fit.varcorr[(fit.varcorr.component == comp) & (fit.varcorr.group == g)]
            assert float(row["sd"].iloc[0]) == pytest.approx(sd, rel=1e-3)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    np.testing.assert_allclose(
        fit.predict("response").to_numpy()[:10], ref["fitted_first10"], rtol=1e-4
    )


def _check_tmb(fit: Any, ref: dict[str, Any]) -> None:
    """TMB's ``par`` (beta, betad, theta = log SD, psi) and its standard errors."""
    assert fit.converged, fit.messages
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    assert fit.df == ref["df"]
    par, se = np.array(ref["par"]), np.array(ref["se"])
    names = ref["par_names"]
    beta = [i for i, n in enumerate(names) if n == "beta"]
    betad = [i for i, n in enumerate(names) if n == "betad"]
    psi = [i for i, n in enumerate(names) if n == "psi"]
    theta = names.index("theta")
    _close(fit.fixef.to_numpy(), par[beta], se[beta], "cond")
    _close(fit.fixef_component("disp").to_numpy(), par[betad], se[betad], "disp")
    np.testing.assert_allclose(fit.coef_table("cond")["Std. Error"], se[beta], rtol=1e-3)
    sd = float(fit.varcorr["sd"].iloc[0])
    assert sd == pytest.approx(np.exp(par[theta]), rel=1e-3)
    if psi:
        _close(fit.params[-len(psi) :], par[psi], se[psi], "psi")


@functools.cache
def compois_fit() -> Any:
    return mm.glmm("y ~ x + (1 | g)", _sim("compois"), family="compois")


def test_compois() -> None:
    """Under-dispersed counts: ``nu = 1 / phi`` above 1."""
    fit = compois_fit()
    _check_glmmtmb(fit, REF["compois"])
    assert fit.sigma < 1.0


@functools.cache
def betabinomial_data() -> pd.DataFrame:
    data = _sim("betabinomial")
    return data.assign(fail=data["size"] - data["succ"], prop=data["succ"] / data["size"])


def test_betabinomial_cbind() -> None:
    fit = mm.glmm("cbind(succ, fail) ~ x + (1 | g)", betabinomial_data(), family="betabinomial")
    _check_glmmtmb(fit, REF["betabinomial"])


def test_betabinomial_proportion_with_trials_as_weights() -> None:
    """glmmTMB's convention: a proportion response takes its trials from ``weights``."""
    fit = mm.glmm("prop ~ x + (1 | g)", betabinomial_data(), family="betabinomial", weights="size")
    assert fit.loglik == pytest.approx(REF["betabinomial_prop_logLik"], rel=1e-6)


def test_betabinomial_needs_trials() -> None:
    with pytest.raises(ValueError, match=r"'prop'.*'betabinomial' needs the number of trials"):
        mm.glmm("prop ~ x + (1 | g)", betabinomial_data(), family="betabinomial")


def test_betabinomial_trials_must_give_whole_successes() -> None:
    data = betabinomial_data().copy()
    data["size"] = data["size"].astype(float)
    data.loc[[0, 3], "size"] += 0.5
    with pytest.raises(ValueError, match=r"'prop' times weights.*whole number.*in 2 rows"):
        mm.glmm("prop ~ x + (1 | g)", data, family="betabinomial", weights="size")


def test_ordbeta() -> None:
    """The two cutpoints (glmmTMB's ``psi``) and glmmTMB's predictions (the mean ``mu``
    of the beta part)."""
    ref = REF["ordbeta"]
    data = _sim("ordbeta")
    assert (data["y"] == 0).sum() == ref["counts"][0] and (data["y"] == 1).sum() == ref["counts"][1]
    fit = mm.glmm("y ~ x + (1 | g)", data, family="ordbeta")
    _check_glmmtmb(fit, ref)
    cov = fit.vcov_full.to_numpy()
    se_psi = np.sqrt(np.diag(cov))[-2:]
    _close(fit.params[-2:], ref["par"][-2:], se_psi, "psi")
    cut = 1.0 / (1.0 + np.exp(-fit.params[-2:]))
    np.testing.assert_allclose(cut, list(ref["family_params"].values()), rtol=1e-4)


def test_lognormal() -> None:
    fit = mm.glmm("y ~ x + (1 | g)", _sim("lognormal"), family="lognormal")
    _check_tmb(fit, REF["lognormal"])
    assert fit.sigma == pytest.approx(np.exp(REF["lognormal"]["par"][2]), rel=1e-4)


def test_lognormal_zeros_need_a_ziformula() -> None:
    data = _sim("lognormal")
    data.loc[[0, 7], "y"] = 0.0
    with pytest.raises(ValueError, match=r"'lognormal'.*'y' has 2 zeros.*ziformula"):
        mm.glmm("y ~ x + (1 | g)", data, family="lognormal")
    # with one, the zeros are the zero-inflation part (a hurdle, as glmmTMB)
    fit = mm.glmm("y ~ x + (1 | g)", data, family="lognormal", ziformula="~1")
    pi = float(fit.predict("zprob").iloc[0])
    assert pi == pytest.approx(2 / len(data), rel=1e-3)


def test_nbinom12() -> None:
    fit = mm.glmm("y ~ x + (1 | g)", _sim("nbinom12"), family="nbinom12")
    _check_tmb(fit, REF["nbinom12"])


def test_prior_weights() -> None:
    """glmmTMB's ``weights`` multiply each row's log-likelihood."""
    ref = REF["zinb2_weights"]
    data = load_case("glmmtmb_salamanders_zinb2")[1]
    data = data.assign(w=np.resize([0.5, 1.0, 2.0], len(data)))
    fit = mm.glmm(
        "count ~ mined + (1 | site)", data, family="nbinom2", ziformula="~ mined", weights="w"
    )
    _check_glmmtmb(fit, ref)
    unweighted = mm.glmm("count ~ mined + (1 | site)", data, family="nbinom2", ziformula="~ mined")
    assert abs(unweighted.loglik - fit.loglik) > 1.0


@functools.cache
def zinb2() -> Any:
    data = load_case("glmmtmb_salamanders_zinb2")[1]
    return mm.glmm("count ~ mined + (1 | site)", data, family="nbinom2", ziformula="~ mined")


@pytest.mark.parametrize("type", ["response", "link", "zprob", "conditional", "zlink"])
def test_predict_newdata(type: str) -> None:
    """glmmTMB's ``predict(newdata = ..., allow.new.levels = TRUE)``: a level not seen
    in fitting predicts at zero random effects; ``re.form = NA`` the fixed part."""
    ref = REF["predict_newdata"]
    fit = zinb2()
    nd = pd.DataFrame(ref["newdata"])
    got = fit.predict(type, newdata=nd, allow_new_levels=True)
    np.testing.assert_allclose(got.to_numpy(), ref[type], rtol=1e-4, atol=1e-7)
    assert list(got.index) == list(nd.index)
    fixed = fit.predict(type, re_form="NA", newdata=nd[["mined"]])
    np.testing.assert_allclose(fixed.to_numpy(), ref[f"{type}_re_NA"], rtol=1e-4, atol=1e-7)


def test_predict_newdata_matches_fitted_rows() -> None:
    fit = zinb2()
    data = fit.model.data
    np.testing.assert_allclose(
        fit.predict("response", newdata=data).to_numpy(), fit.predict("response").to_numpy()
    )


def test_predict_new_level_is_an_error_unless_allowed() -> None:
    ref = REF["predict_newdata"]
    with pytest.raises(
        ValueError, match=r"1 rows with levels of 'site' not seen.*allow_new_levels"
    ):
        zinb2().predict("response", newdata=pd.DataFrame(ref["newdata"]))


def test_predict_newdata_dispersion_model() -> None:
    ref = REF["predict_newdata_disp"]
    data = load_case("glmmtmb_orthodont_dispformula")[1]
    fit = mm.glmm(
        "distance ~ age + Sex + (1 | Subject)", data, family="gaussian", dispformula="~ Sex"
    )
    nd = pd.DataFrame(ref["newdata"])
    got = fit.predict("response", newdata=nd, allow_new_levels=True)
    np.testing.assert_allclose(got.to_numpy(), ref["response"], rtol=1e-4)
    disp = fit.predict("disp", newdata=nd, allow_new_levels=True)
    np.testing.assert_allclose(disp.to_numpy(), ref["disp"], rtol=1e-4)
