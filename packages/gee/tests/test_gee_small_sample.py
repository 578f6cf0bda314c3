"""Small-sample variance corrections against figures computed by hand in R.

tools/reference/gee/gee_reference.R fits each case with geepack (epsilon 1e-12) and then
computes, cluster by cluster from the published formulas, the Mancl-DeRouen (2001),
Kauermann-Carroll (2001, principal inverse square root of I - H_i), Fay-Graubard
(2001, b = 0.75) and Morel-Bokossa-Neerchal (2003, d = 2, r = 1, as geesmv) variances.
The cases are small (15 to 56 clusters), two have unequal cluster sizes (2 to 4 rows,
and 1 to 20 rows with singletons) and one has gaps in time under AR(1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from gee_helpers import assert_rel, dataset, extra_reference, values
from mixedmodels_gee import gee


def _respiratory() -> Any:
    d = dataset("respiratory")
    d = d.loc[d["center"] == 1]
    return gee(
        "outcome ~ treat + age + baseline", d, groups="id", family="binomial", corstr="exchangeable"
    )


def _ohio() -> Any:
    d = dataset("ohio")
    i, a = d["id"], d["age"]
    keep = (
        (i % 12 == 0)
        & ~((i % 5 == 0) & (a == 1))
        & ~((i % 3 == 0) & (a == -2))
        & ~((i % 7 == 0) & (a == 0))
    )
    return gee(
        "resp ~ age + smoke", d.loc[keep], groups="id", family="binomial", corstr="exchangeable"
    )


def _dietox() -> Any:
    d = dataset("dietox")
    pos = d["Pig"].cat.codes.to_numpy() + 1
    keep = (pos <= 15) & ~((pos % 2 == 1) & d["Time"].isin([4, 8]).to_numpy())
    return gee("Weight ~ Time + Cu", d.loc[keep], groups="Pig", time="Time", corstr="ar1")


def _grouse() -> Any:
    d = dataset("grouseticks")
    pos = d["LOCATION"].cat.codes.to_numpy() + 1
    return gee(
        "TICKS ~ YEAR + cHEIGHT",
        d.loc[pos % 2 == 1],
        groups="LOCATION",
        family="poisson",
        corstr="exchangeable",
    )


CASES = {
    "respiratory_center1_exch": _respiratory,
    "ohio_small_unbalanced_exch": _ohio,
    "dietox_small_gaps_ar1": _dietox,
    "grouse_small_poisson_exch": _grouse,
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, Any, dict[str, Any]]:
    name = request.param
    return name, CASES[name](), extra_reference()["small_sample"][name]


def _assert_matrix(actual: pd.DataFrame, expected: Any, rtol: float, what: str) -> None:
    a = actual.to_numpy()
    e = np.asarray(expected, dtype=float)
    scale = np.abs(e).max()
    err = np.abs(a - e).max() / scale
    assert err <= rtol, f"{what}: max difference {err:.3g} of the largest entry > {rtol:g}"
    assert_rel(np.sqrt(np.diag(a)), np.sqrt(np.diag(e)), rtol, f"{what} standard errors")


def test_fit_matches(case: tuple[str, Any, dict[str, Any]]) -> None:
    name, fit, ref = case
    assert_rel(fit.fixef, values(ref["coef"]), 1e-7, f"{name} coef")
    assert fit.n_clusters == ref["n_clusters"]
    assert sorted(fit.cluster_sizes.tolist()) == sorted(ref["cluster_sizes"])
    if len(fit.corr_params):
        assert_rel(fit.corr_params, values(ref["alpha"]), 1e-7, f"{name} alpha")


@pytest.mark.parametrize("kind", ["naive", "robust", "md", "kc", "fg", "mbn"])
def test_variance(case: tuple[str, Any, dict[str, Any]], kind: str) -> None:
    name, fit, ref = case
    _assert_matrix(fit.get_vcov(kind), ref[kind], 1e-6, f"{name} {kind}")


def test_robust_is_geepacks(case: tuple[str, Any, dict[str, Any]]) -> None:
    name, fit, ref = case
    _assert_matrix(fit.get_vcov("robust"), ref["geepack_robust"], 1e-6, f"{name} robust")


def test_corrections_inflate(case: tuple[str, Any, dict[str, Any]]) -> None:
    # MD removes the downward bias of the sandwich: it is never smaller; KC lies between.
    _, fit, _ = case
    rob = fit.std_errors("robust").to_numpy()
    md = fit.std_errors("md").to_numpy()
    kc = fit.std_errors("kc").to_numpy()
    assert np.all(md >= rob * (1 - 1e-12))
    assert np.all((kc >= rob * (1 - 1e-12)) & (kc <= md * (1 + 1e-12)))


def test_aliases_and_default(case: tuple[str, Any, dict[str, Any]]) -> None:
    _, fit, _ = case
    for alias, kind in [
        ("mancl-derouen", "md"),
        ("kauermann-carroll", "kc"),
        ("fay-graubard", "fg"),
        ("morel-bokossa-neerchal", "mbn"),
        ("sandwich", "robust"),
        ("model", "naive"),
    ]:
        assert np.array_equal(fit.get_vcov(alias).to_numpy(), fit.get_vcov(kind).to_numpy())
    md = fit.with_std_err("md")
    assert md.std_err == "md"
    assert np.array_equal(md.vcov.to_numpy(), fit.get_vcov("md").to_numpy())
    assert "Mancl-DeRouen" in md.summary()
    with pytest.raises(ValueError, match="unknown variance type"):
        fit.get_vcov("bootstrap")
