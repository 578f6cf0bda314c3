"""Bad input gets a clear error naming what is wrong (or is handled, where it should be)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gee_helpers import dataset
from mixedmodels_gee import Fixed, GEEError, gee

import mixedmodels as mm


def test_missing_cluster_column() -> None:
    with pytest.raises(ValueError, match=r"groups: column 'child' not found in data"):
        gee("resp ~ age + smoke", dataset("ohio"), groups="child", family="binomial")
    with pytest.raises(ValueError, match=r"column 'nope' not found"):
        gee("outcome ~ age", dataset("respiratory"), groups=["center", "nope"], family="binomial")


def test_no_clusters_given() -> None:
    model = mm.Model("resp ~ age + smoke", dataset("ohio"), family="binomial")
    with pytest.raises(ValueError, match="GEE needs clusters: pass groups="):
        model.fit(method="gee")


def test_cluster_array_of_wrong_length() -> None:
    with pytest.raises(ValueError, match="one value per row"):
        gee("resp ~ age", dataset("ohio"), groups=np.arange(10), family="binomial")


def test_single_row_clusters_under_ar1() -> None:
    d = dataset("ohio")
    d = d.loc[~((d["id"] % 3 == 0) & (d["age"] > -2))]  # 179 children with one visit
    fit = gee("resp ~ age + smoke", d, groups="id", family="binomial", corstr="ar1")
    assert (fit.cluster_sizes == 1).sum() == 179
    assert fit.converged and np.isfinite(fit.corr_params.iloc[0])
    assert np.all(np.isfinite(fit.fixef_se))
    assert np.all(np.isfinite(fit.std_errors("kc")))
    # Only singletons: nothing to estimate the correlation from; the fit is the GLM's.
    only = d.drop_duplicates("id")
    fit1 = gee("resp ~ smoke", only, groups="id", family="binomial", corstr="ar1")
    ind = gee("resp ~ smoke", only, groups="id", family="binomial")
    assert np.isnan(fit1.corr_params.iloc[0])
    assert np.allclose(fit1.fixef, ind.fixef, rtol=1e-10)


def test_fixed_matrix_not_positive_definite() -> None:
    R = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    with pytest.raises(ValueError, match="not positive definite"):
        Fixed(R)
    with pytest.raises(ValueError, match="not positive definite"):
        gee("resp ~ age", dataset("ohio"), groups="id", family="binomial", corstr=R)


@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.ones((2, 3)), "square"),
        (np.array([[1.0, 0.2], [0.3, 1.0]]), "not symmetric"),
        (np.array([[2.0, 0.2], [0.2, 1.0]]), "unit diagonal"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "non-finite"),
    ],
)
def test_fixed_matrix_malformed(matrix: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fixed(matrix)


def test_fixed_matrix_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match=r"3 x 3 but the data has a largest cluster of 4"):
        gee("resp ~ age", dataset("ohio"), groups="id", family="binomial", corstr=np.eye(3))


def test_duplicate_time_within_a_cluster() -> None:
    d = dataset("ohio")
    d.loc[d.index[5], "age"] = -2  # child 1 now has two rows at age -2
    with pytest.raises(ValueError, match=r"cluster 1 has two rows at time -2 \(age\)"):
        gee("resp ~ smoke", d, groups="id", time="age", family="binomial", corstr="ar1")


def test_missing_cluster_or_time_values_are_dropped_with_a_warning() -> None:
    d = dataset("ohio")
    d["g"] = d["id"].astype(float)
    d.loc[d.index[:3], "g"] = np.nan
    with pytest.warns(UserWarning, match="3 rows with a missing cluster"):
        fit = gee("resp ~ age + smoke", d, groups="g", family="binomial")
    assert fit.nobs == len(d) - 3
    assert fit.n_clusters == 537


def test_random_effect_terms_are_refused() -> None:
    model = mm.Model("resp ~ age + (1 | id)", dataset("ohio"), family="binomial", groups="id")
    with pytest.raises(ValueError, match="remove the random-effect terms"):
        model.fit(method="gee")


def test_unknown_options() -> None:
    model = mm.Model("resp ~ age", dataset("ohio"), family="binomial", groups="id", corstrr="ar1")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['corstrr'\]"):
        model.fit(method="gee")
    model = mm.Model("resp ~ age", dataset("ohio"), family="binomial", groups="id")
    with pytest.raises(TypeError, match="unknown option"):
        model.fit(method="gee", std_error="md")


def test_unknown_corstr_and_variance_type() -> None:
    with pytest.raises(ValueError, match="unknown corstr 'toeplitz'"):
        gee("resp ~ age", dataset("ohio"), groups="id", family="binomial", corstr="toeplitz")
    with pytest.raises(ValueError, match="unknown variance type"):
        gee("resp ~ age", dataset("ohio"), groups="id", family="binomial", std_err="hc3")


def test_m_dependent_needs_whole_number_times() -> None:
    d = dataset("ohio")
    d["t"] = d["age"] / 2
    with pytest.raises(ValueError, match="whole-number times"):
        gee("resp ~ age", d, groups="id", time="t", family="binomial", corstr="m-dependent")
    with pytest.raises(ValueError, match="m must be a whole number"):
        gee("resp ~ age", d, groups="id", family="binomial", corstr="m-dependent", mdep=0)


def test_time_must_be_numeric_or_ordered() -> None:
    d = dataset("respiratory")
    with pytest.raises(ValueError, match="time: column 'sex' is an unordered factor"):
        gee("outcome ~ age", d, groups=["center", "id"], time="sex", family="binomial")
    d["when"] = d["visit"].astype(str)
    with pytest.raises(ValueError, match="time: column 'when' must be numeric"):
        gee("outcome ~ age", d, groups=["center", "id"], time="when", family="binomial")
    d["ordered"] = pd.Categorical(
        d["visit"].map({1: "a", 2: "b", 3: "c", 4: "d"}),
        categories=["a", "b", "c", "d"],
        ordered=True,
    )
    a = gee(
        "outcome ~ age", d, groups=["center", "id"], time="ordered", family="binomial", corstr="ar1"
    )
    b = gee(
        "outcome ~ age", d, groups=["center", "id"], time="visit", family="binomial", corstr="ar1"
    )
    assert np.allclose(a.fixef, b.fixef, rtol=1e-12)


def test_correlation_outside_its_range_is_a_clear_error() -> None:
    # Broods of grouse ticks are so correlated that the exchangeable estimate exceeds 1
    # (geepack carries on with a working correlation that is not positive definite).
    d = dataset("grouseticks")
    pos = d["BROOD"].cat.codes.to_numpy() + 1
    with pytest.raises(GEEError, match="working correlation is not positive definite"):
        gee(
            "TICKS ~ YEAR + cHEIGHT",
            d.loc[pos % 4 == 1],
            groups="BROOD",
            family="poisson",
            corstr="exchangeable",
        )


def test_response_outside_the_family() -> None:
    d = dataset("ohio")
    d["y"] = d["resp"] * 2.0
    with pytest.raises(ValueError, match="binomial family"):
        gee("y ~ age", d, groups="id", family="binomial")


def test_scale_fix_must_be_positive() -> None:
    with pytest.raises(ValueError, match="scale_fix must be positive"):
        gee("resp ~ age", dataset("ohio"), groups="id", family="binomial", scale_fix=-1)


def test_start_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="start must have one value per coefficient"):
        gee("resp ~ age", dataset("ohio"), groups="id", family="binomial", start=[0.0])


def test_pandas_index_labels_survive() -> None:
    d = dataset("ohio")
    d.index = pd.Index([f"r{i}" for i in range(len(d))])
    fit = gee("resp ~ age", d, groups="id", family="binomial")
    assert fit.fitted().index[0] == "r0"
