"""Denominator degrees of freedom: Satterthwaite (lmerTest) and Kenward-Roger (pbkrtest).

Reference figures: R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2.  The sleepstudy
cases come from the shared reference set; the others from
``tools/reference/inference_reference.R`` (copied to ``reference/``).

Two kinds of comparison:

* the inference alone, evaluated at lme4's own estimates of theta (a result built at
  R's theta), so that only the df computations are compared: 1e-4 relative (in fact
  they agree to about 1e-7);
* our own fits (whose optimum is a hair away from lme4's, which stops early on these
  flat criteria): df, t values and standard errors 1e-4 relative; p-values of huge t
  statistics (1e-17) move faster than the estimates, so they are compared at 1e-3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

# Private: lmerTest's intermediate matrices (A, J, Kenward-Roger's adjusted vcov) and
# fits at lme4's theta are tested directly.
from mixedmodels.linear import fit as lmm_fit
from mixedmodels.numerics.derivatives import richardson_derivatives
from mixedmodels.numerics.optimize import OptimizerSummary
from mixedmodels.results import LMMResult

REFERENCE = Path(__file__).parents[1] / "reference"
RTOL = 1e-4
SLEEP = "Reaction ~ Days + (Days | Subject)"
CAKE = "angle ~ recipe * temperature + (1 | recipe:replicate)"


def _load(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / f"{name}.json").read_text())


REF = _load("inference_reference")
LMERTEST = _load("lmertest_sleepstudy_satterthwaite")["results"]
PBKR = _load("pbkrtest_sleepstudy_kenward_roger")["results"]


def at_theta(fit: Any, theta: Any) -> LMMResult:
    """A result of the same model evaluated at the given theta (no optimisation)."""
    ev = fit._problem.evaluate(np.atleast_1d(np.asarray(theta, dtype=float)), fit.reml)
    return LMMResult(fit.model, fit._problem, ev, fit.reml, OptimizerSummary("none", 0), True, [])


def matrix(entry: dict[str, Any]) -> np.ndarray:
    return np.array(entry["values"], dtype=float)


@pytest.fixture(scope="module")
def fit(sleep: pd.DataFrame) -> Any:
    return mm.lmm(SLEEP, sleep)


@pytest.fixture(scope="module")
def fit_at_lme4(fit: Any) -> LMMResult:
    return at_theta(fit, list(LMERTEST["theta"].values()))


@pytest.fixture(scope="module")
def cake_unbalanced() -> pd.DataFrame:
    cake = mm.datasets.load("cake")
    drop = np.asarray(REF["unbalanced_dropped_rows_1based"]) - 1
    return cake.drop(index=cake.index[drop])


# --- sleepstudy: the shared reference cases ---------------------------------------------
def test_satterthwaite_sleepstudy_at_lme4_theta(fit_at_lme4: LMMResult) -> None:
    table = mm.coef_table(fit_at_lme4, ddf="satterthwaite")
    assert list(table.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    assert list(table.index) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(
        table.to_numpy(), matrix(LMERTEST["coef_table_satterthwaite"]), rtol=RTOL
    )


def test_kenward_roger_sleepstudy_at_lme4_theta(fit_at_lme4: LMMResult) -> None:
    table = mm.coef_table(fit_at_lme4, ddf="kenward-roger")
    np.testing.assert_allclose(table.to_numpy(), matrix(PBKR["lmerTest_summary_kr"]), rtol=RTOL)
    np.testing.assert_allclose(
        mm.vcov_kenward_roger(fit_at_lme4).to_numpy(),
        matrix(PBKR["vcov_kr_adjusted"]),
        rtol=RTOL,
    )


def test_satterthwaite_and_kr_sleepstudy_own_fit(fit: Any) -> None:
    for ddf, expected in (
        ("satterthwaite", matrix(LMERTEST["coef_table_satterthwaite"])),
        ("kenward-roger", matrix(PBKR["lmerTest_summary_kr"])),
    ):
        table = mm.coef_table(fit, ddf=ddf).to_numpy()
        np.testing.assert_allclose(table[:, :4], expected[:, :4], rtol=RTOL, err_msg=ddf)
        np.testing.assert_allclose(table[:, 4], expected[:, 4], rtol=1e-3, err_msg=ddf)
    df = LMERTEST["df_satterthwaite"]
    np.testing.assert_allclose(mm.coef_table(fit)["df"], [df["(Intercept)"], df["Days"]], rtol=RTOL)


def test_anova_single_term_sleepstudy(fit_at_lme4: LMMResult) -> None:
    # lmerTest: anova(fit) (type III, Satterthwaite) of Reaction ~ Days.
    table = mm.anova(fit_at_lme4)
    np.testing.assert_allclose(
        table.to_numpy(dtype=float), matrix(LMERTEST["anova_type3_satterthwaite"]), rtol=RTOL
    )
    kr = PBKR["KRmodcomp_Days"]["test_table"]["values"][0]
    got = mm.anova(fit_at_lme4, ddf="kenward-roger").iloc[0]
    np.testing.assert_allclose(
        [got["F value"], got["NumDF"], got["DenDF"], got["Pr(>F)"]],
        [kr[0], kr[1], kr[2], kr[4]],
        rtol=RTOL,
    )


# --- contrasts L beta ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "ddf"),
    [
        ("sleepstudy_contest1D_satterthwaite", "satterthwaite"),
        ("sleepstudy_contest1D_kr", "kenward-roger"),
    ],
)
def test_contest_one_row(fit: Any, key: str, ddf: str) -> None:
    # lmerTest: contest(fit, c(1, 5), joint = FALSE, ddf = ...)
    exp = REF[key]
    got = mm.contest(fit, [1.0, 5.0], ddf=ddf, joint=False).iloc[0]
    for col in ("Estimate", "Std. Error", "df", "t value", "lower", "upper"):
        np.testing.assert_allclose(got[col], exp[col], rtol=RTOL, err_msg=col)
    np.testing.assert_allclose(got["Pr(>|t|)"], exp["Pr(>|t|)"], rtol=1e-3)


@pytest.mark.parametrize(
    ("key", "ddf", "rhs"),
    [
        ("sleepstudy_contestMD_satterthwaite", "satterthwaite", 0.0),
        ("sleepstudy_contestMD_kr", "kenward-roger", 0.0),
        ("sleepstudy_contestMD_rhs_satterthwaite", "satterthwaite", [250.0, 10.0]),
    ],
)
def test_contest_joint(fit: Any, key: str, ddf: str, rhs: Any) -> None:
    # lmerTest: contest(fit, diag(2), rhs = ..., ddf = ...)
    exp = REF[key]
    got = mm.contest(fit, np.eye(2), ddf=ddf, rhs=rhs).iloc[0]
    for col in ("Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value"):
        np.testing.assert_allclose(got[col], exp[col], rtol=RTOL, err_msg=col)
    np.testing.assert_allclose(got["Pr(>F)"], exp["Pr(>F)"], rtol=1e-3)


def test_contest_accepts_named_weights(fit: Any) -> None:
    by_name = mm.contest(fit, {"Days": 1.0}, joint=False)
    by_vector = mm.contest(fit, [0.0, 1.0], joint=False)
    pd.testing.assert_frame_equal(by_name, by_vector)
    frame = pd.DataFrame({"(Intercept)": [1.0, 0.0], "Days": [5.0, 1.0]})
    assert len(mm.contest(fit, frame, joint=False)) == 2


# --- larger models: every coefficient, both methods --------------------------------------
@pytest.mark.parametrize("case", ["cake_balanced", "cake_unbalanced", "cake_numeric"])
@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_coefficient_tables_two_factor_models(
    case: str, ddf: str, cake_unbalanced: pd.DataFrame
) -> None:
    data = mm.datasets.load("cake") if case == "cake_balanced" else cake_unbalanced
    formula = CAKE if case != "cake_numeric" else CAKE.replace("temperature", "temp")
    fit = mm.lmm(formula, data)
    ref = REF[case]
    assert list(fit.fixef.index) == list(ref["fit"]["fixef"])
    key = "coef_satterthwaite" if ddf == "satterthwaite" else "coef_kenward_roger"
    expected = matrix(ref[key])
    np.testing.assert_allclose(
        mm.coef_table(at_theta(fit, ref["fit"]["theta"]), ddf).to_numpy(), expected, rtol=RTOL
    )
    # The own fit: this criterion is well conditioned, the same tolerance holds.
    np.testing.assert_allclose(mm.coef_table(fit, ddf).to_numpy(), expected, rtol=RTOL)
    if ddf == "kenward-roger":
        np.testing.assert_allclose(
            mm.vcov_kenward_roger(at_theta(fit, ref["fit"]["theta"])).to_numpy(),
            matrix(ref["vcov_kr"]),
            rtol=RTOL,
            atol=1e-10,
        )


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_two_crossed_terms_penicillin(ddf: str) -> None:
    ref = REF["penicillin"]
    fit = mm.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    key = "coef_satterthwaite" if ddf == "satterthwaite" else "coef_kenward_roger"
    np.testing.assert_allclose(
        mm.coef_table(at_theta(fit, ref["fit"]["theta"]), ddf).to_numpy(),
        matrix(ref[key]),
        rtol=RTOL,
    )


def test_satterthwaite_with_prior_weights(sleep: pd.DataFrame) -> None:
    data = sleep.assign(w=(sleep["Days"] + 1) / 5)
    fit = mm.lmm(SLEEP, data, weights="w")
    ref = REF["sleepstudy_weights"]
    np.testing.assert_allclose(
        mm.coef_table(at_theta(fit, ref["fit"]["theta"])).to_numpy(),
        matrix(ref["coef_satterthwaite"]),
        rtol=RTOL,
    )


def test_blocked_problem_gives_the_same_df(
    sleep: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    dense = mm.lmm(SLEEP, sleep)
    monkeypatch.setattr(lmm_fit, "_DENSE_MAX_M", 0)
    blocked = mm.lmm(SLEEP, sleep)
    # (standardised matrices: the criterion the fit evaluates is the inner one)
    assert type(getattr(blocked._problem, "inner", blocked._problem)).__name__ == "LMMProblem"
    blocked = at_theta(blocked, dense.theta)
    for ddf in ("satterthwaite", "kenward-roger"):
        np.testing.assert_allclose(
            mm.coef_table(blocked, ddf).to_numpy(),
            mm.coef_table(dense, ddf).to_numpy(),
            rtol=1e-6,
        )


def test_singular_fit() -> None:
    # lmerTest: coef(summary(lmer(Yield ~ 1 + (1 | Batch), Dyestuff2), ddf = ...)):
    # with the variance at zero, Satterthwaite gives the residual df, KR the batches'.
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    assert fit.singular
    satt = mm.coef_table(fit).iloc[0]
    np.testing.assert_allclose(
        satt.to_numpy(), [5.6656, 0.6783880312, 29.0, 8.351562438, 3.318292749e-09], rtol=RTOL
    )
    kr = mm.coef_table(fit, "kenward-roger").iloc[0]
    np.testing.assert_allclose(kr["df"], 5.0, rtol=RTOL)
    np.testing.assert_allclose(kr["Pr(>|t|)"], 0.0004026832579, rtol=RTOL)


def test_ml_fit_satterthwaite_uses_the_ml_deviance(sleep: pd.DataFrame) -> None:
    ml = mm.lmm(SLEEP, sleep, reml=False)
    table = mm.coef_table(ml)
    # ML standard errors are smaller; the df are still close to the 17 subjects' 17.
    assert (table["df"] > 15).all() and (table["df"] < 20).all()
    with pytest.raises(ValueError, match="only available for REML"):
        mm.coef_table(ml, ddf="kenward-roger")


# --- summary and tidy -------------------------------------------------------------------
def test_summary_is_lmertest_text(sleep: pd.DataFrame) -> None:
    data = sleep.copy()
    data.attrs["name"] = "sleepstudy"
    fit = mm.lmm(SLEEP, data)
    for ddf, key in (
        ("satterthwaite", "sleepstudy_summary_text"),
        ("kenward-roger", "sleepstudy_summary_text_kr"),
    ):
        got = fit.summary(ddf=ddf).splitlines()
        exp = REF[key]
        assert len(got) == len(exp)
        # lme4 stops a hair short of the optimum: the intercept variance's last printed
        # digit differs (612.10 / 612.09); everything else, coefficient table included,
        # is R's text.
        for k, (g, e) in enumerate(zip(got, exp, strict=True)):
            if e.startswith(" Subject  (Intercept)"):
                assert g.split()[:2] == e.split()[:2]
                continue
            assert g == e, f"line {k}"


def test_summary_ml_title_wraps_as_r() -> None:
    # Private: the summary's title line names the ddf method.
    from mixedmodels.output.summary import _title

    class Stub:
        reml = False

    assert _title(Stub(), "satterthwaite") == (
        "Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's\n"
        "  method [lmerModLmerTest]\n"
    )
    assert _title(Stub(), "none") == "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"


def test_tidy_has_satterthwaite_df_and_p_values(fit: Any) -> None:
    t = mm.tidy(fit)
    assert list(t.columns) == [
        "effect",
        "group",
        "term",
        "estimate",
        "std.error",
        "statistic",
        "df",
        "p.value",
    ]
    table = mm.coef_table(fit)
    np.testing.assert_allclose(t["df"][:2], table["df"])
    np.testing.assert_allclose(t["p.value"][:2], table["Pr(>|t|)"])
    assert t[["df", "p.value"]].iloc[2:].isna().all().all()
    kr = mm.tidy(fit, effects="fixed", ddf="kenward-roger")
    np.testing.assert_allclose(kr["std.error"], mm.coef_table(fit, "kr")["Std. Error"])
    assert "df" not in mm.tidy(fit, ddf="none").columns


# --- bad input --------------------------------------------------------------------------
def test_bad_ddf_and_contrasts(fit: Any) -> None:
    with pytest.raises(ValueError, match="unknown ddf method 'bogus'"):
        mm.coef_table(fit, ddf="bogus")
    with pytest.raises(ValueError, match="needs 2 columns"):
        mm.contest(fit, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"\['Dayz'\] are not fixed effects"):
        mm.contest(fit, {"Dayz": 1.0})
    with pytest.raises(ValueError, match="missing or infinite"):
        mm.contest(fit, [np.nan, 1.0])
    with pytest.raises(TypeError, match="needs a linear mixed model"):
        mm.coef_table(object(), ddf="satterthwaite")


def test_richardson_derivatives_of_a_known_function() -> None:
    def f(x: np.ndarray) -> np.ndarray:
        return np.array([x[0] ** 2 * x[1] + np.sin(x[2]) * x[0], np.exp(x[1])])

    x = np.array([0.9, 0.015, 0.3])
    _, jac, hess = richardson_derivatives(f, x)
    assert hess is not None
    np.testing.assert_allclose(
        jac[0], [2 * x[0] * x[1] + np.sin(x[2]), x[0] ** 2, np.cos(x[2]) * x[0]], rtol=1e-9
    )
    np.testing.assert_allclose(
        hess[0],
        [
            [2 * x[1], 2 * x[0], np.cos(x[2])],
            [2 * x[0], 0.0, 0.0],
            [np.cos(x[2]), 0.0, -np.sin(x[2]) * x[0]],
        ],
        rtol=1e-8,
        atol=1e-9,
    )
    np.testing.assert_allclose(hess[1, 1, 1], np.exp(x[1]), rtol=1e-8)
