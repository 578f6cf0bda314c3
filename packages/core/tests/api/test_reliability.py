"""Issue 12, items 2-5: named warnings, the library's own errors with a cause, no
numpy RuntimeWarning from a fit, refusals of models that are not identifiable, and
clear messages for awkward input.  Each test failed before the fix."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.numerics.optimize import check_convergence
from mixedmodels.testing.fuzz import random_case, run_case

REF = Path(__file__).parent.parent / "reference"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return mm.datasets.load("sleepstudy")


def _singular_data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"g": np.repeat(list("abcdefgh"), 5), "x": rng.normal(size=40)})
    d["y"] = d.x + rng.normal(size=40)
    return d


# --- item 2: warnings -----------------------------------------------------------------
def test_hierarchy() -> None:
    assert issubclass(mm.ModelSpecificationError, mm.MixedModelsError)
    assert issubclass(mm.ModelSpecificationError, ValueError)
    assert issubclass(mm.FitError, mm.MixedModelsError)
    assert issubclass(mm.FitError, RuntimeError)
    for w in (mm.ConvergenceWarning, mm.SingularFitWarning):
        assert issubclass(w, mm.MixedModelsWarning)
        assert issubclass(w, UserWarning)
    assert issubclass(mm.formula.FormulaError, mm.ModelSpecificationError)
    assert issubclass(mm.residual.ResidualSpecError, mm.ModelSpecificationError)


def test_singular_fit_warns_once_with_lme4_wording() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = mm.lmm("y ~ x + (1 | g)", _singular_data())
    assert fit.singular
    singular = [w for w in caught if issubclass(w.category, mm.SingularFitWarning)]
    assert len(singular) == 1
    assert str(singular[0].message) == "boundary (singular) fit: see help('isSingular')"
    assert singular[0].filename == __file__  # points at the user's call


def test_singular_warning_can_be_filtered() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", mm.SingularFitWarning)
        mm.lmm("y ~ x + (1 | g)", _singular_data())
    with warnings.catch_warnings():
        warnings.simplefilter("error", mm.SingularFitWarning)
        with pytest.raises(mm.SingularFitWarning):
            mm.lmm("y ~ x + (1 | g)", _singular_data())


def test_regular_fit_does_not_warn(sleep: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    assert fit.converged and not fit.singular


def test_glmm_singular_fit_warns() -> None:
    d = _singular_data()
    d["yb"] = (d.y > 0).astype(int)
    with pytest.warns(mm.SingularFitWarning, match="boundary"):
        mm.glmm("yb ~ x + (1 | g)", d, family="binomial")


def test_non_converged_fit_warns_once() -> None:
    # An ar1 term whose correlation runs to the edge (fuzz seed 1010): converged=False
    # and, before, no warning at all.
    case = random_case(1010)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = mm.lmm(case.formula, case.data, **case.options)
    assert not fit.converged
    conv = [w for w in caught if issubclass(w.category, mm.ConvergenceWarning)]
    assert len(conv) == 1
    assert str(conv[0].message).startswith("Model failed to converge: ")
    assert all(m in str(conv[0].message) for m in fit.messages if "singular" not in m)


def test_convergence_warning_names_the_reason() -> None:
    # The convergence check's finite differences are not finite next to this optimum.
    with pytest.warns(mm.ConvergenceWarning, match="Model failed to converge: .*not finite"):
        mm.estimators.announce(_Unconverged())


class _Unconverged:
    converged = False
    singular = False
    messages = (
        "the criterion's derivatives at the optimum are not finite (the criterion overflows)",
    )


def test_convergence_check_survives_non_finite_hessian() -> None:
    # Was LinAlgError: Eigenvalues did not converge (from eigvalsh on a NaN Hessian).
    def fun(x: np.ndarray) -> float:
        return float(x[0] ** 2) if abs(x[0] - 1.0) < 1e-9 else np.inf

    ok, messages, _, _ = check_convergence(
        fun, np.array([1.0, 2.0]), np.full(2, -np.inf), np.full(2, np.inf)
    )
    assert not ok
    assert "not finite" in messages[0]


@pytest.mark.parametrize("seed", [1057, 1087, 1115, 1123, 2474, 3619, 4926])
def test_no_runtime_warning_from_overflowing_poisson_fits(seed: int) -> None:
    # Were "overflow encountered in square" / "invalid value encountered in divide"
    # (GLMM weights and deviances at extreme trial points), or a raw ValueError;
    # 2474 and 3619: "invalid value in matmul" mapping a non-finite gradient back from
    # the standardised scale; 4926: a raw RuntimeError when the criterion was undefined
    # at the optimum (10-minute fuzz run).
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        outcome = run_case(random_case(seed), timeout=0)
    assert outcome.ok, outcome.message  # a fit or the library's own error
    assert "RuntimeWarning" not in outcome.warnings


# --- item 3: raw internal errors ----------------------------------------------------------
def test_more_columns_than_rows_drops_columns_as_r(sleep: pd.DataFrame) -> None:
    # Was "operands could not be broadcast" in the rank check.
    d = sleep.head(6).copy()
    d["g"] = ["a", "b"] * 3
    d["f"] = [f"l{i}" for i in range(6)]
    with pytest.warns(mm.model.RankDeficiencyWarning, match="dropping"):
        model = mm.Model("Reaction ~ Days + f + (1 | g)", d)
    assert model.X.shape[1] <= 6


def test_reml_with_as_many_coefficients_as_rows_is_refused(sleep: pd.DataFrame) -> None:
    # Was ZeroDivisionError in the dense path.
    d = sleep.head(6).copy()
    d["g"] = ["a", "b"] * 3
    d["f"] = [f"l{i}" for i in range(6)]
    with pytest.raises(mm.ModelSpecificationError, match="6 observations for 6 fixed-effect"):
        mm.lmm("Reaction ~ f + (1 | g)", d)


def test_glmm_with_as_many_coefficients_as_rows_is_refused() -> None:
    # Was "PIRLS failed at the first-stage estimates" with no cause.
    case = random_case(1067)
    with (
        pytest.warns(mm.model.RankDeficiencyWarning),
        pytest.raises(mm.ModelSpecificationError, match="4 observations for 4 fixed-effect"),
    ):
        mm.glmm(case.formula, case.data, family="poisson", **case.options)


def test_no_lapack_message_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    # Was " ** On entry to DTRTRS parameter number  7 had an illegal value" (blocked
    # path, one term, no fixed effects).
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"g": rng.integers(0, 200, 1000).astype(str), "y": rng.normal(size=1000)})
    fit = mm.lmm("y ~ 0 + (1 | g)", d)
    assert np.isfinite(fit.loglik)
    captured = capfd.readouterr()  # (the LAPACK library writes to stdout)
    assert "DTRTRS" not in captured.out + captured.err


def test_pirls_failure_names_a_cause() -> None:
    from mixedmodels.generalized.fit import build_glmm_problem

    d = _singular_data()
    d["yc"] = np.arange(40) % 5
    d["big"] = d.x * 1e6
    model = mm.Model("yc ~ big + (1 | g)", d, family="poisson")
    err = build_glmm_problem(model).pirls_failure("at the first-stage estimates", np.ones(1))
    assert isinstance(err, mm.FitError)
    assert "center or rescale" in str(err) and "PIRLS" in str(err)


# --- item 4: models that are not identifiable -----------------------------------------------
def test_shared_factor_with_one_row_per_level_is_refused() -> None:
    # Was > 150 s in the first stage of PIRLS.
    rng = np.random.default_rng(3)
    n = 280
    d = pd.DataFrame(
        {
            "g1": [f"s{i}" for i in rng.permutation(n)],
            "tf": pd.Categorical(rng.integers(0, 3, n).astype(str), ordered=True),
            "x1": rng.normal(size=n),
        }
    )
    d["y"] = rng.binomial(1, 0.4, n)
    with pytest.raises(mm.ModelSpecificationError, match="not identifiable"):
        mm.glmm("y ~ 1 + toep(0 + tf | g1) + (x1 | g1)", d, family="binomial")


def test_one_observation_level_random_effect_still_fits() -> None:
    # An observation-level random intercept (poisson overdispersion) stays allowed.
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"obs": [f"o{i}" for i in range(60)], "g": np.repeat(list("abcdef"), 10)})
    d["y"] = rng.poisson(np.exp(0.5 + rng.normal(scale=0.5, size=60)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.MixedModelsWarning)
        fit = mm.glmm("y ~ 1 + (1 | obs) + (1 | g)", d, family="poisson")
    assert np.isfinite(fit.loglik)


# --- item 5: vague or silent ----------------------------------------------------------------
def test_reml_must_be_boolean(sleep: pd.DataFrame) -> None:
    with pytest.raises(mm.ModelSpecificationError, match="reml must be True or False"):
        mm.lmm("Reaction ~ Days + (1 | Subject)", sleep, reml="no")
    with pytest.raises(mm.ModelSpecificationError, match="reml must be True or False"):
        mm.gls("Reaction ~ Days", sleep, reml="no")


def test_datetime_predictor_asks_for_a_conversion(sleep: pd.DataFrame) -> None:
    d = sleep.copy()
    d["date"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(d.Days, unit="D")
    with pytest.raises(mm.ModelSpecificationError, match="'date' is a date/time"):
        mm.lmm("Reaction ~ date + (1 | Subject)", d)


def test_ar1_needs_a_factor_of_times(sleep: pd.DataFrame) -> None:
    with pytest.raises(mm.ModelSpecificationError, match=r"ar1\(\) correlates .* factor of times"):
        mm.lmm("Reaction ~ Days + ar1(1 | Subject)", sleep)


def test_integer_column_names(sleep: pd.DataFrame) -> None:
    d = sleep.rename(columns={"Subject": 2})
    fit = mm.lmm("Reaction ~ Days + (1 | `2`)", d)
    ref = mm.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-10)
    assert list(d.columns) == ["Reaction", "Days", 2]  # the user's frame is untouched
    with pytest.raises(mm.formula.FormulaError, match="column named by a number"):
        mm.lmm("Reaction ~ `1` + (1 | Subject)", sleep.rename(columns={"Days": 1}))


def test_q_quoting_as_backticks(sleep: pd.DataFrame) -> None:
    d = sleep.rename(columns={"Days": "my days"})
    ref = mm.lmm("Reaction ~ `my days` + (1 | Subject)", d)
    for formula in (
        'Reaction ~ Q("my days") + (1 | Subject)',
        "Reaction ~ Q('my days') + (1 | Subject)",
    ):
        fit = mm.lmm(formula, d)
        assert fit.loglik == pytest.approx(ref.loglik, rel=1e-12)
        np.testing.assert_allclose(fit.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-12)


def test_duplicated_column_names(sleep: pd.DataFrame) -> None:
    d = sleep.copy()
    d.columns = ["Reaction", "Reaction", "Subject"]
    with pytest.raises(mm.ModelSpecificationError, match=r"'Reaction' .* appears 2 times"):
        mm.lmm("Reaction ~ 1 + (1 | Subject)", d)


def test_unknown_option_suggests_the_name(sleep: pd.DataFrame) -> None:
    with pytest.raises(mm.ModelSpecificationError, match="did you mean 'optimizer'"):
        mm.lmm("Reaction ~ Days + (1 | Subject)", sleep, optimiser="cobyqa")
    with pytest.raises(mm.ModelSpecificationError, match="did you mean 'reml'"):
        mm.lmm("Reaction ~ Days + (1 | Subject)", sleep, REML=False)


def test_family_must_be_a_name_or_family(sleep: pd.DataFrame) -> None:
    with pytest.raises(mm.ModelSpecificationError, match="family must be a registered"):
        mm.glmm("Reaction ~ Days + (1 | Subject)", sleep, family=42)


@pytest.mark.parametrize("nsim", [-1, 0, 2.5, True])
def test_simulate_nsim_must_be_positive(sleep: pd.DataFrame, nsim: object) -> None:
    fit = mm.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(mm.ModelSpecificationError, match="nsim must be a positive integer"):
        fit.simulate(nsim=nsim)  # type: ignore[arg-type]


def _cbpp_zero_rows() -> pd.DataFrame:
    cb = mm.datasets.load("cbpp").copy()
    cb.loc[[1, 4], ["incidence", "size"]] = 0
    cb["fail"] = cb["size"] - cb["incidence"]
    return cb


def test_zero_trials_contribute_nothing_as_lme4() -> None:
    # lme4 (tools/reference/zero_weights.R): glmer with rows 2 and 5 of cbpp at zero
    # trials gives deviance 73.26204 and logLik -88.13044, as with those rows dropped.
    ref = json.loads((REF / "zero_weights.json").read_text())
    cb = _cbpp_zero_rows()
    formula = "cbind(incidence, fail) ~ period + (1 | herd)"
    with pytest.warns(mm.DroppedRowsWarning, match="zero binomial trials"):
        fit = mm.glmm(formula, cb)
    dropped = mm.glmm(formula, cb[cb["size"] > 0])
    assert fit.loglik == pytest.approx(dropped.loglik, rel=1e-12)
    np.testing.assert_allclose(fit.fixef.to_numpy(), dropped.fixef.to_numpy(), rtol=1e-10)
    # lme4 dropped the same rows (its fit with them dropped is identical) but stops
    # 3e-4 short of the optimum on these data; ours is at least as high.
    assert ref["zero_trials"]["loglik"] == ref["zero_trials"]["loglik_dropped"]
    assert fit.loglik == pytest.approx(ref["zero_trials"]["loglik"], rel=1e-5)
    assert fit.loglik >= ref["zero_trials"]["loglik"] - 1e-6
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref["zero_trials"]["fixef"], rtol=1e-3)


def test_zero_prior_weights_contribute_nothing() -> None:
    ref = json.loads((REF / "zero_weights.json").read_text())
    cb = mm.datasets.load("cbpp").copy()
    cb["fail"] = cb["size"] - cb["incidence"]
    cb["w"] = 1.0
    cb.loc[[1, 4], "w"] = 0.0
    formula = "cbind(incidence, fail) ~ period + (1 | herd)"
    with pytest.warns(mm.DroppedRowsWarning, match="2 rows with zero prior weight"):
        fit = mm.glmm(formula, cb, weights="w")
    dropped = mm.glmm(formula, cb[cb["w"] > 0])
    assert fit.loglik == pytest.approx(dropped.loglik, rel=1e-12)
    assert fit.loglik == pytest.approx(ref["zero_weights"]["loglik"], rel=1e-5)
    with pytest.raises(mm.ModelSpecificationError, match="non-negative"):
        mm.glmm(formula, cb.assign(w=-cb["w"]), weights="w")


def test_huge_response_says_why(sleep: pd.DataFrame) -> None:
    d = sleep.copy()
    d["Reaction"] *= 1e300
    with pytest.raises(mm.ModelSpecificationError, match="rescale"):
        mm.lmm("Reaction ~ Days + (Days | Subject)", d)


def test_all_missing_response_is_a_specification_error(sleep: pd.DataFrame) -> None:
    # Was a plain ValueError: users catching mm.ModelSpecificationError missed it.
    data = sleep.assign(Reaction=np.nan)
    with pytest.raises(mm.ModelSpecificationError, match="'Reaction': 180"):
        mm.lmm("Reaction ~ Days + (Days | Subject)", data)


def test_unknown_contrast_name_is_a_specification_error(sleep: pd.DataFrame) -> None:
    with pytest.raises(mm.ModelSpecificationError, match=r"\['zz'\]"):
        mm.lmm("Reaction ~ Days + (Days | Subject)", sleep, contrasts={"zz": "contr.sum"})
