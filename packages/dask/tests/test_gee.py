"""GEE on Dask frames: the in-memory gee plugin's fit, with the rows in several
partitions (decision 0029)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

dd = pytest.importorskip("dask.dataframe")
gee_plugin = pytest.importorskip("mixedmodels_gee")
gee = gee_plugin.gee

TOL = 1e-10


def _respiratory() -> pd.DataFrame:
    data = mm.datasets.load("respiratory").copy()
    # interaction(center, id) as one column: the Dask path takes a cluster column
    data["cid"] = data["center"].astype(int) * 1000 + data["id"].astype(int)
    return data


CASES: dict[str, dict[str, Any]] = {
    "ohio": dict(formula="resp ~ age + smoke", family="binomial", groups="id", time="age"),
    "respiratory": dict(
        formula="outcome ~ treat + sex + age + baseline",
        family="binomial",
        groups="cid",
        time="visit",
    ),
    "dietox": dict(formula="Weight ~ Time + Cu", family="gaussian", groups="Pig", time="Time"),
}


def _data(name: str) -> pd.DataFrame:
    return _respiratory() if name == "respiratory" else mm.datasets.load(name).copy()


def _close(a: Any, b: Any, tol: float = TOL) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(b), np.max(np.abs(b), initial=1e-300) * 1e-3)
    assert np.max(np.abs(a - b) / scale, initial=0.0) <= tol


def _check(fit: Any, ref: Any) -> None:
    assert fit.fixef_names == list(ref.coef.index)
    _close(fit.coef.to_numpy(), ref.coef.to_numpy())
    _close(fit.get_vcov("robust").to_numpy(), ref.get_vcov("robust").to_numpy())
    _close(fit.get_vcov("naive").to_numpy(), ref.get_vcov("naive").to_numpy())
    assert list(fit.corr_params.index) == list(ref.corr_params.index)
    _close(fit.corr_params.to_numpy(), ref.corr_params.to_numpy())
    _close(fit.scale, ref.scale)
    assert fit.nobs == ref.nobs and fit.n_clusters == ref.n_clusters
    assert fit.converged


@pytest.mark.parametrize(
    ("name", "corstr"),
    [
        ("ohio", "independence"),
        ("ohio", "exchangeable"),
        ("ohio", "ar1"),
        ("respiratory", "exchangeable"),
        ("respiratory", "ar1"),
        ("dietox", "ar1"),
        ("dietox", "exchangeable"),
    ],
)
def test_equals_in_memory_fit(name: str, corstr: str) -> None:
    spec = CASES[name]
    data = _data(name)
    ref = gee(data=data, corstr=corstr, **spec)
    # shuffled rows, the cluster column as the index: known divisions, 5 partitions
    shuffled = data.sample(frac=1.0, random_state=3)
    ddf = dd.from_pandas(shuffled, npartitions=5).set_index(spec["groups"])
    assert ddf.npartitions > 1 and ddf.known_divisions
    fit = gee(data=ddf, corstr=corstr, **spec)
    _check(fit, ref)


def test_sorted_frame_checked_in_a_pass() -> None:
    """Clusters whole in partitions without an index: accepted after the check."""
    spec = CASES["ohio"]
    data = _data("ohio").sort_values(["id", "age"]).reset_index(drop=True)
    # partitions of whole clusters (four rows each), not indexed by the cluster
    ddf = dd.from_pandas(data, chunksize=4 * 97, sort=False)
    assert ddf.npartitions > 1
    fit = gee(data=ddf, corstr="exchangeable", **spec)
    _check(fit, gee(data=data, corstr="exchangeable", **spec))


def test_split_clusters_are_an_error() -> None:
    spec = CASES["ohio"]
    data = _data("ohio").sort_values(["id", "age"]).reset_index(drop=True)
    ddf = dd.from_pandas(data, chunksize=4 * 97 + 2, sort=False)  # cuts a cluster
    with pytest.raises(mm.ModelSpecificationError, match=r"'id'.*set_index\('id'\)"):
        gee(data=ddf, corstr="exchangeable", **spec)


def test_unknown_divisions_with_split_clusters_are_an_error() -> None:
    spec = CASES["ohio"]
    data = _data("ohio").sort_values(["id", "age"]).set_index("id")
    # the index, unknown divisions, and partitions of 101 rows that cut clusters
    parts = [data.iloc[i : i + 101] for i in range(0, len(data), 101)]
    ddf = dd.concat([dd.from_pandas(p, npartitions=1) for p in parts]).clear_divisions()
    assert not ddf.known_divisions
    with pytest.raises(mm.ModelSpecificationError, match=r"partitions.*set_index\('id'\)"):
        gee(data=ddf, corstr="ar1", **spec)


def test_refused_options() -> None:
    spec = CASES["ohio"]
    ddf = dd.from_pandas(_data("ohio"), npartitions=2).set_index("id")
    with pytest.raises(mm.ModelSpecificationError, match="unstructured"):
        gee(data=ddf, corstr="unstructured", **spec)
    with pytest.raises(mm.ModelSpecificationError, match="std_err"):
        gee(data=ddf, std_err="jackknife", **spec)
    with pytest.raises(mm.ModelSpecificationError, match="groups"):
        gee(data=ddf, **{**spec, "groups": "nope"})


def test_ar1_without_time_is_an_error() -> None:
    # Without time= the in-memory fit pairs rows by their order within a cluster, which a
    # Dask frame does not keep after set_index: ohio's ar1 coefficients moved by 0.08.
    spec = {**CASES["ohio"], "time": None}
    ddf = dd.from_pandas(_data("ohio").sample(frac=1.0, random_state=3), npartitions=3)
    with pytest.raises(mm.ModelSpecificationError, match=r"'ar1'.*needs time=.*'id'"):
        gee(data=ddf.set_index("id"), corstr="ar1", **spec)
    fit = gee(data=ddf.set_index("id"), corstr="exchangeable", **spec)  # order-free
    _check(fit, gee(data=_data("ohio"), corstr="exchangeable", **spec))


def test_distributed_cluster(cluster_client: Any) -> None:
    spec = CASES["respiratory"]
    data = _data("respiratory")
    ddf = dd.from_pandas(data, npartitions=4).set_index("cid")
    fit = gee(data=ddf, corstr="ar1", client=cluster_client, **spec)
    _check(fit, gee(data=data, corstr="ar1", **spec))


def test_offset_and_weights() -> None:
    data = _data("ohio")
    data["off"] = 0.1 * data["age"]
    data["w"] = 1.0 + (data["id"] % 3)
    spec = dict(
        formula="resp ~ age + smoke + offset(0.2 * smoke)",
        groups="id",
        time="age",
        family="binomial",
        corstr="exchangeable",
        offset="off",
        weights="w",
    )
    ddf = dd.from_pandas(data, npartitions=3).set_index("id")
    _check(gee(data=ddf, **spec), gee(data=data, **spec))
