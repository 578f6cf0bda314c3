"""The user-facing API: Model route, summary text, predictions, residuals, tidiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gee_helpers import REFERENCE, dataset
from mixedmodels_gee import GEEEstimator, GEEResult, gee, qic

import mixedmodels as mm
from mixedmodels.plugin_manager.manager import get_estimator, get_tidier


def _ohio_exch(**kw: object) -> GEEResult:
    return gee(
        "resp ~ age + smoke",
        dataset("ohio"),
        groups="id",
        family="binomial",
        corstr="exchangeable",
        **kw,
    )


def test_registered_through_the_entry_point() -> None:
    est = get_estimator("gee")
    assert isinstance(est, GEEEstimator)
    tidier = get_tidier(_ohio_exch())
    assert tidier.tidy is not None and tidier.glance is not None and tidier.augment is None
    table = mm.plugins()
    rows = table[(table["plugin"] == "gee")]
    assert set(rows["kind"]) == {"estimator", "tidier"}
    assert rows["distribution"].iloc[0] == "mixedmodels-gee"


def test_model_route_equals_gee() -> None:
    direct = _ohio_exch()
    model = mm.Model(
        "resp ~ age + smoke", dataset("ohio"), family="binomial", groups="id", corstr="exchangeable"
    )
    via = model.fit(method="gee")
    assert isinstance(via, GEEResult)
    assert np.array_equal(via.fixef.to_numpy(), direct.fixef.to_numpy())
    # Fit options override the model's extras.
    ar1 = model.fit(method="gee", corstr="ar1", std_err="naive")
    assert ar1.corstr.name == "ar1" and ar1.std_err == "naive"
    # Groups may come with the fit instead of the model.
    plain = mm.Model("resp ~ age + smoke", dataset("ohio"), family="binomial")
    assert np.array_equal(
        plain.fit(method="gee", groups="id", corstr="exchangeable").fixef.to_numpy(),
        direct.fixef.to_numpy(),
    )


def _text_after_call(text: str) -> str:
    return text[text.index(" Coefficients:") :]


@pytest.mark.parametrize(
    "name, make",
    [
        ("summary_ohio_exchangeable", lambda: _ohio_exch(algorithm="geepack")),
        (
            "summary_ohio_unstructured",
            lambda: gee(
                "resp ~ age + smoke",
                dataset("ohio"),
                groups="id",
                family="binomial",
                corstr="unstructured",
                algorithm="geepack",
            ),
        ),
        (
            "summary_ohio_independence_scalefix",
            lambda: gee(
                "resp ~ age + smoke",
                dataset("ohio"),
                groups="id",
                family="binomial",
                scale_fix=True,
            ),
        ),
        (
            "summary_dietox_ar1",
            lambda: gee(
                "Weight ~ Time + Cu",
                dataset("dietox"),
                groups="Pig",
                corstr="ar1",
                algorithm="geepack",
            ),
        ),
        (
            "summary_respiratory_ar1",
            lambda: gee(
                "outcome ~ treat + sex + age + baseline",
                dataset("respiratory"),
                groups=["center", "id"],
                family="binomial",
                corstr="ar1",
                algorithm="geepack",
            ),
        ),
    ],
)
def test_summary_text_is_geepacks(name: str, make: object) -> None:
    expected = (REFERENCE / f"{name}.txt").read_text()
    ours = make().summary()  # type: ignore[operator]
    assert _text_after_call(ours).rstrip("\n") == _text_after_call(expected).rstrip("\n")
    assert ours.startswith("\nCall:\ngee(formula = ")


def test_str_and_repr() -> None:
    fit = _ohio_exch()
    assert str(fit) == fit.summary()
    assert "corstr=exchangeable" in repr(fit) and "clusters=537" in repr(fit)


def test_predict_fitted_and_new_data() -> None:
    d = dataset("ohio")
    fit = gee("resp ~ age + smoke", d, groups="id", family="binomial", corstr="ar1")
    assert np.allclose(fit.predict(type="response"), fit.fitted())
    assert np.allclose(fit.predict(), fit.linear_predictor())
    new = pd.DataFrame({"age": [-2, 0, 1], "smoke": [0, 1, 1]})
    eta = fit.predict(new)
    X = np.column_stack([np.ones(3), new["age"], new["smoke"]])
    assert np.allclose(eta, X @ fit.fixef.to_numpy())
    mu = fit.predict(new, type="response")
    assert np.allclose(mu, 1 / (1 + np.exp(-eta)))
    se = fit.predict(new, se_fit=True)
    assert list(se.columns) == ["fit", "se.fit"]
    assert np.allclose(se["se.fit"] ** 2, np.einsum("ij,jk,ik->i", X, fit.vcov.to_numpy(), X))
    with pytest.raises(ValueError, match="type must be"):
        fit.predict(new, type="probability")


def test_predict_with_offset_column() -> None:
    d = dataset("grouseticks")
    d["logH"] = np.log(d["HEIGHT"])
    fit = gee("TICKS ~ YEAR + cHEIGHT", d, groups="LOCATION", family="poisson", offset="logH")
    assert np.allclose(fit.predict(d.iloc[:5]), fit.linear_predictor().iloc[:5])
    f2 = gee("TICKS ~ YEAR + cHEIGHT + offset(logH)", d, groups="LOCATION", family="poisson")
    assert np.allclose(f2.fixef, fit.fixef, rtol=1e-12)
    assert np.allclose(f2.predict(d.iloc[:5]), fit.linear_predictor().iloc[:5])


def test_residuals() -> None:
    fit = gee("Weight ~ Time + Cu", dataset("dietox"), groups="Pig", corstr="ar1")
    y = dataset("dietox")["Weight"].loc[fit.fitted().index]
    assert np.allclose(fit.residuals(), y - fit.fitted())
    assert np.allclose(fit.residuals("pearson"), y - fit.fitted())  # gaussian, weight 1
    assert np.allclose(fit.residuals("working"), y - fit.fitted())
    assert np.allclose(np.abs(fit.residuals("deviance")), np.abs(y - fit.fitted()))
    # The scale is the mean squared Pearson residual (geepack).
    assert fit.scale == pytest.approx(float(np.mean(fit.residuals("pearson") ** 2)))
    with pytest.raises(ValueError, match="unknown residual type"):
        fit.residuals("studentized")


def test_tidy_and_glance() -> None:
    fit = _ohio_exch()
    t = mm.tidy(fit)
    assert list(t.columns) == ["term", "estimate", "std.error", "statistic", "p.value"]
    assert np.allclose(t["statistic"], (fit.fixef / fit.fixef_se) ** 2)
    t2 = mm.tidy(fit, conf_int=True, exponentiate=True, std_err="kc")
    assert np.allclose(t2["std.error"], fit.std_errors("kc"))
    assert np.allclose(np.log(t2["estimate"]), fit.fixef)
    assert np.all(t2["conf.low"] < t2["estimate"]) and np.all(t2["estimate"] < t2["conf.high"])
    g = mm.glance(fit)
    assert list(g.columns)[:5] == [
        "df.residual",
        "n.clusters",
        "max.cluster.size",
        "alpha",
        "gamma",
    ]
    row = g.iloc[0]
    assert row["n.clusters"] == 537 and row["max.cluster.size"] == 4
    assert row["alpha"] == pytest.approx(0.3543049, rel=1e-6)
    assert row["QIC"] == pytest.approx(fit.qic()["QIC"])
    indep = mm.glance(gee("resp ~ age", dataset("ohio"), groups="id", family="binomial"))
    assert np.isnan(indep["alpha"].iloc[0])


def test_working_correlation_matrices() -> None:
    d = dataset("dietox")
    fit = gee("Weight ~ Time + Cu", d, groups="Pig", corstr="ar1", time="Time")
    R = fit.working_correlation()
    a = fit.corr_params.iloc[0]
    lags = np.abs(np.subtract.outer(np.arange(1, 13), np.arange(1, 13)))
    assert np.allclose(R.to_numpy(), a**lags)
    assert list(R.index) == [str(t) for t in range(1, 13)]
    ex = gee("Weight ~ Time + Cu", d, groups="Pig", corstr="exchangeable")
    E = ex.working_correlation().to_numpy()
    off = E[~np.eye(12, dtype=bool)]
    assert np.allclose(off, ex.corr_params.iloc[0])


def test_wald_test_contrasts() -> None:
    fit = gee("Weight ~ Time + Cu", dataset("dietox"), groups="Pig", corstr="ar1")
    one = fit.wald_test(L=[0, 1, 0, 0])
    assert one["statistic"] == pytest.approx(fit.coef_table().loc["Time", "Wald"])
    assert one["df"] == 1
    diff = fit.wald_test(L=[[0, 0, 1, -1]], rhs=[0.0], std_err="naive")
    V = fit.get_vcov("naive").to_numpy()
    c = np.array([0, 0, 1, -1.0])
    b = fit.fixef.to_numpy()
    assert diff["statistic"] == pytest.approx((c @ b) ** 2 / (c @ V @ c))
    by_name = fit.wald_test(terms=["CuCu035", "CuCu175"])
    assert by_name["statistic"] == pytest.approx(fit.wald_test(terms="Cu")["statistic"])
    with pytest.raises(ValueError, match="neither a term"):
        fit.wald_test(terms="Copper")
    with pytest.raises(ValueError, match="exactly one of"):
        fit.wald_test()


def test_qic_table_and_model_selection() -> None:
    d = dataset("ohio")
    fits = [
        gee("resp ~ age + smoke", d, groups="id", family="binomial", corstr=c)
        for c in ("independence", "exchangeable", "ar1")
    ]
    table = qic(*fits)
    assert list(table.columns) == ["QIC", "QICu", "QuasiLik", "CIC", "params", "QICC"]
    assert table.shape == (3, 6)
    assert np.allclose(table["QICu"] - (-2 * table["QuasiLik"]), 2 * 3)
    scaled = fits[1].qic(scaled=True)
    assert scaled["QuasiLik"] == pytest.approx(fits[1].qic()["QuasiLik"] / fits[1].scale)


def test_rank_deficient_columns_are_dropped() -> None:
    d = dataset("ohio")
    d["age2"] = 2 * d["age"]
    with pytest.warns(mm.model.RankDeficiencyWarning):
        fit = gee(
            "resp ~ age + age2 + smoke", d, groups="id", family="binomial", corstr="exchangeable"
        )
    assert list(fit.fixef.index) == ["(Intercept)", "age", "smoke"]
    assert "dropping 1 column: age2" in fit.summary()


def test_arrow_data() -> None:
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pandas(dataset("ohio"))
    fit = gee("resp ~ age + smoke", table, groups="id", family="binomial")
    ref = gee("resp ~ age + smoke", dataset("ohio"), groups="id", family="binomial")
    assert np.allclose(fit.fixef, ref.fixef, rtol=1e-12)


def test_summary_is_notebook_ready() -> None:
    """Issue 19: the summary is a str (geepack's text) with HTML, Markdown and LaTeX."""
    from mixedmodels.extending import Summary

    fit = _ohio_exch()
    s = fit.summary()
    assert isinstance(s, Summary) and s == str(fit)
    html = fit._repr_html_()
    assert html.startswith("<pre") and "Estimated Correlation Parameters" in html
    md = s.to_markdown()
    assert "| term | estimate | std.error |" in md and "| smoke |" in md
    assert "\\begin{tabular}" in s.to_latex()
    assert fit.summary(std_err="naive")._repr_html_() != html


def test_regression_table_side_by_side_with_a_glmm() -> None:
    """Issue 19 item 8: a GEE fit goes into ``mm.table`` through its registered tidier;
    its goodness-of-fit rows are the clusters and QIC (geepack has no likelihood)."""
    fit = _ohio_exch()
    ohio = dataset("ohio")
    glmm = mm.glmm("resp ~ age + smoke + (1 | id)", ohio, family="binomial")
    out = mm.table({"GEE": fit, "GLMM": glmm}, "markdown", gof=("nobs", "n.clusters", "QIC"))
    lines = out.splitlines()
    coef = mm.tidy(fit)
    smoke = coef.set_index("term").loc["smoke"]
    row = lines.index(next(line for line in lines if line.startswith("| smoke |")))
    assert lines[row].split(" | ")[1] == f"{smoke['estimate']:.3f}"
    assert lines[row + 1].split(" | ")[1] == f"({smoke['std.error']:.3f})"
    assert "| Num.Clusters | 537 |  |" in lines
    assert f"| QIC | {mm.glance(fit)['QIC'].iloc[0]:.1f} |  |" in lines
    assert "| SD (Intercept id) |  |" in out
