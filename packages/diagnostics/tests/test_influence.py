"""influence() on sleepstudy against figures computed in R (lme4 refits following
influence.ME's and HLMdiag's sources; tools/reference/diagnostics_influence.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mixedmodels_diagnostics import InfluenceResult, influence

import mixedmodels as mm
from mixedmodels.testing import Check, diagnostic_checks

REF = json.loads((Path(__file__).parent / "reference" / "diagnostics_influence.json").read_text())
SLEEP = REF["sleepstudy"]
RTOL = 1e-4
# R names -> ours
MEASURES = {
    "cooks": "cooks_distance",
    "mdffits": "mdffits",
    "covratio": "covratio",
    "covtrace": "covtrace",
}
RVC = [  # HLMdiag's varcomp order: sigma2, D11, D21, D22
    "rvc_sigma2",
    "rvc_var_(Intercept)|Subject",
    "rvc_cov_Days.(Intercept)|Subject",
    "rvc_var_Days|Subject",
]


@pytest.fixture(scope="module")
def fit():
    return mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def by_subject(fit):
    return influence(fit, group="Subject")


def _r(block, name):
    return np.array([row[name] for row in block], dtype=float)


def _close(mine, ref, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(mine, dtype=float), ref, rtol=rtol, atol=atol)


def test_full_fit_matches_r(fit):
    _close(fit.fixef.to_numpy(), np.array(SLEEP["fixef"]), rtol=1e-7)


def test_exact_group_deletion_matches_influence_me(by_subject):
    ref = SLEEP["group"]
    table = by_subject.table
    assert list(table.index.astype(str)) == SLEEP["levels"]
    _close(by_subject.deleted_fixef.to_numpy(), np.array(ref["fixef_delete"]), rtol=1e-8)
    for r_name, name in MEASURES.items():
        # covtrace is |tr - p|, a difference of numbers near p: an absolute floor
        atol = 1e-6 if name == "covtrace" else 0.0
        _close(table[name], _r(ref["measures"], r_name), atol=atol)
    # influence.ME's cooks.distance() (deleted-data vcov) is our mdffits
    assert np.all(table["mdffits"] != table["cooks_distance"])


def test_exact_group_rvc_matches_hlmdiag(by_subject):
    ref = np.array(SLEEP["group"]["rvc"])
    _close(by_subject.table[RVC].to_numpy(), ref, rtol=1e-3, atol=1e-4)


def test_exact_observation_deletion_matches_r(fit):
    infl = influence(fit, n_jobs=1)
    assert infl.level == "observation" and infl.n_units == 180
    ref = SLEEP["obs"]
    # Observation-level changes are tiny: the optimiser's tolerance shows at ~1e-5.
    _close(infl.deleted_fixef.to_numpy(), np.array(ref["fixef_delete"]), rtol=1e-7)
    for r_name, name in MEASURES.items():
        atol = 5e-5 if name == "covtrace" else 0.0
        _close(infl.table[name], _r(ref["measures"], r_name), rtol=2e-4, atol=atol)


def test_one_step_matches_hlmdiag_formulas(fit):
    for group, key in ((None, "onestep_obs"), ("Subject", "onestep_group")):
        infl = influence(fit, group=group, method="approx")
        for r_name, name in MEASURES.items():
            _close(infl.table[name], _r(SLEEP[key], r_name), rtol=5e-5, atol=1e-12)
        assert infl.table[RVC].isna().all().all()


def test_leverage_matches_hlmdiag(fit, by_subject):
    obs = influence(fit, method="approx").table
    lev = SLEEP["leverage_obs"]
    pairs = {
        "overall": "leverage",
        "fixef": "leverage_fixef",
        "ranef": "leverage_ranef",
        "ranef_uc": "leverage_ranef_uc",
    }
    for r_name, name in pairs.items():
        _close(obs[name], _r(lev, r_name), rtol=1e-5)
        # group level: the trace of the block; HLMdiag reports its mean
        mean = by_subject.table[name] / by_subject.table["n_obs"]
        _close(mean, _r(SLEEP["leverage_group_mean"], r_name), rtol=1e-5)
    # the trace of the fixed-effect hat matrix is p
    assert obs["leverage_fixef"].sum() == pytest.approx(2.0)


def test_one_step_is_exact_gls_deletion_with_fixed_covariance(fit):
    """With V held at the full-data estimate, the one-step b_(I) is GLS on the rest."""
    data = mm.datasets.load("sleepstudy")
    infl = influence(fit, group="Subject", method="approx")
    X = fit.model.X
    y = fit.model.response
    Z = np.kron(np.eye(18), np.ones((10, 1)))
    cov = fit.covariance_matrices()["Subject"].to_numpy()
    codes = data["Subject"].cat.codes.to_numpy()
    Zfull = np.zeros((180, 36))
    Zfull[np.arange(180), 2 * codes] = 1.0
    Zfull[np.arange(180), 2 * codes + 1] = data["Days"].to_numpy()
    V = Zfull @ np.kron(np.eye(18), cov) @ Zfull.T + fit.sigma**2 * np.eye(180)
    assert Z.shape == (180, 18)
    for k in (0, 7):
        keep = codes != k
        Vi = np.linalg.inv(V[np.ix_(keep, keep)])
        Xk = X[keep]
        b = np.linalg.solve(Xk.T @ Vi @ Xk, Xk.T @ Vi @ y[keep])
        _close(infl.deleted_fixef.iloc[k].to_numpy(), b, rtol=1e-9)


def test_one_step_cooks_is_classic_cooks_without_random_variance():
    """Dyestuff2's batch variance is estimated as zero: V = sigma^2 I, so the one-step
    Cook's distance is the linear model's (with s^2 = RSS / (n - p), the REML sigma)."""
    data = mm.datasets.load("Dyestuff2")
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", data)
    assert fit.singular
    infl = influence(fit, method="approx")
    y = fit.model.response
    n, p = y.size, 1
    e = y - y.mean()
    h = np.full(n, 1.0 / n)
    s2 = e @ e / (n - p)
    classic = e**2 * h / (p * s2 * (1 - h) ** 2)
    _close(infl.table["cooks_distance"], classic, rtol=1e-6)


def test_result_accessors(by_subject):
    assert isinstance(by_subject, InfluenceResult)
    assert by_subject.cutoff() == pytest.approx(4 / 18)
    frame = by_subject.to_frame()
    assert "Subject" in frame.columns and "fixef_Days" in frame.columns
    assert len(frame) == 18
    top = by_subject.influential(threshold=0.1)
    assert (top["cooks_distance"] > 0.1).all()
    assert list(top["cooks_distance"]) == sorted(top["cooks_distance"], reverse=True)
    assert by_subject.influential(threshold=np.inf).empty
    with pytest.raises(ValueError, match="unknown measure"):
        by_subject.influential(measure="nope")
    assert by_subject.deleted_vcov is not None and len(by_subject.deleted_vcov) == 18
    assert "exact" in repr(by_subject)


def test_parallel_refits_equal_serial(fit, by_subject):
    par = influence(fit, group="Subject", n_jobs=2)
    pd.testing.assert_frame_equal(par.table, by_subject.table)


def test_unknown_group_names_it_and_lists_factors(fit):
    with pytest.raises(ValueError, match=r"'Patient'.*\['Subject'\]"):
        influence(fit, group="Patient")
    with pytest.raises(ValueError, match="method"):
        influence(fit, group="Subject", method="fast")


def test_unsupported_result_is_named():
    with pytest.raises(TypeError, match=r"influence.*LMMResult or GLMMResult.*str"):
        influence("not a fit")


def _influence_diagnostic():
    from mixedmodels_diagnostics._influence import InfluenceDiagnostic

    return InfluenceDiagnostic()


_INFLUENCE = _influence_diagnostic()


# The fit is a fixture: list the kit's checks with `result=...`, give it when calling.
@pytest.mark.parametrize(("name", "check"), list(diagnostic_checks(_INFLUENCE, result=...)))
def test_registered_check_conforms(name: str, check: Check, fit) -> None:
    check(_INFLUENCE, result=fit)


def test_registered_check(fit):
    diag = _INFLUENCE
    assert diag.supports(42) is not None
    report = mm.check(fit, "influence", verbose=False)
    assert set(report["verdict"]) <= {"ok", "warning"}
    # A low cut-off cannot be set through check(); group=... and method= can:
    table = diag.run(fit, group="Subject", method="approx")
    assert table["check"].str.startswith("influence (Subject").all()
    with pytest.raises(TypeError, match="check 'influence'"):
        diag.run("not a fit")


def test_repr_html_lists_the_most_influential_units(by_subject):
    """Issue 19: notebooks show the influence result as a table, largest Cook's first."""
    html = by_subject._repr_html_()
    assert html.startswith(
        '<table class="mixedmodels-table" style="border-collapse:collapse">'
    ) and html.rstrip().endswith("</table>")
    top = by_subject.table["cooks_distance"].idxmax()
    assert html.index(f">{top}<") < html.index("</tbody>")
    assert f"cut-off 4/n = {4 / 18:.4g}" in html
