"""GEE on Dask frames: the in-memory gee plugin's fit and result, with the rows shuffled
into several partitions (decision 0029).

Every GEE reference case of the gee plugin's tests (packages/gee/tests: geepack's
geeglm cases, the other families, links, weights, offsets, time gaps, the
m-dependent and fixed structures, the fixed scale, geepack's algorithm, R's gee
moments, the jackknife and the small-sample variances, anova, QIC) is fitted in memory
and on a Dask frame of the same rows shuffled into 4 partitions (each cluster whole in
one); coefficients, every variance type, the correlation parameters, the scale and the
standard errors of both must agree to 1e-10, and summary, tidy, glance, QIC, anova and
confint must be the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

dd = pytest.importorskip("dask.dataframe")
gee_plugin = pytest.importorskip("mixedmodels_gee")
gee = gee_plugin.gee

TOL = 1e-10
KINDS = ("robust", "naive", "jackknife", "md", "kc", "fg", "mbn")


def _load(name: str) -> pd.DataFrame:
    return mm.datasets.load(name).copy()


def _respiratory() -> pd.DataFrame:
    data = _load("respiratory")
    # interaction(center, id) as one column: the Dask path takes a cluster column
    data["cid"] = data["center"].astype(int) * 1000 + data["id"].astype(int)
    return data


def _dietox_gaps() -> pd.DataFrame:
    d = _load("dietox")
    pos = d["Pig"].cat.codes.to_numpy() + 1
    drop = ((pos % 2 == 1) & d["Time"].isin([3, 6, 9]).to_numpy()) | (
        (pos % 5 == 0) & (d["Time"] == 12).to_numpy()
    )
    return d.loc[~drop]


def _ohio_gaps() -> pd.DataFrame:
    d = _load("ohio")
    drop = ((d["id"] % 5 == 0) & (d["age"] == 1)) | ((d["id"] % 7 == 0) & (d["age"] == -1))
    return d.loc[~drop]


def _grouse_no_singletons() -> pd.DataFrame:
    d = _load("grouseticks")
    sizes = d.groupby("BROOD", observed=True)["TICKS"].transform("size")
    return d.loc[sizes > 1]


def _weighted_ohio() -> pd.DataFrame:
    d = _load("ohio")
    d["w"] = 1.0 + d["id"] % 3
    return d


def _ohio_small() -> pd.DataFrame:
    d = _load("ohio")
    i, a = d["id"], d["age"]
    keep = (
        (i % 12 == 0)
        & ~((i % 5 == 0) & (a == 1))
        & ~((i % 3 == 0) & (a == -2))
        & ~((i % 7 == 0) & (a == 0))
    )
    return d.loc[keep]


def _dietox_small() -> pd.DataFrame:
    d = _load("dietox")
    pos = d["Pig"].cat.codes.to_numpy() + 1
    keep = (pos <= 15) & ~((pos % 2 == 1) & d["Time"].isin([4, 8]).to_numpy())
    return d.loc[keep]


def _grouse_small() -> pd.DataFrame:
    d = _load("grouseticks")
    return d.loc[(d["LOCATION"].cat.codes.to_numpy() + 1) % 2 == 1]


def _negbin(theta: float) -> Any:
    from mixedmodels.families import NegativeBinomial

    return NegativeBinomial(theta=theta)


OHIO = dict(formula="resp ~ age + smoke", family="binomial", groups="id")
RESP = dict(formula="outcome ~ treat + sex + age + baseline", family="binomial", groups="cid")
DIETOX = dict(formula="Weight ~ Time + Cu", family="gaussian", groups="Pig")
GROUSE = dict(formula="TICKS ~ YEAR + cHEIGHT + offset(log(HEIGHT))", family="poisson")
MATRIX = [[1, 0.5, 0.3, 0.2], [0.5, 1, 0.5, 0.3], [0.3, 0.5, 1, 0.5], [0.2, 0.3, 0.5, 1]]

#: name -> (data, gee arguments).  Structures that pair rows by their order get the
#: within-cluster position as ``time`` (in memory that is the default).
CASES: dict[str, tuple[Callable[[], pd.DataFrame], dict[str, Any]]] = {
    # geepack's geeglm reference cases (test_gee_reference_geeglm), both algorithms
    "ohio_independence": (lambda: _load("ohio"), dict(OHIO, corstr="independence")),
    "ohio_exchangeable": (lambda: _load("ohio"), dict(OHIO, corstr="exchangeable")),
    "ohio_unstructured": (lambda: _load("ohio"), dict(OHIO, corstr="unstructured")),
    "ohio_ar1": (lambda: _load("ohio"), dict(OHIO, corstr="ar1")),
    "respiratory_exchangeable": (_respiratory, dict(RESP, corstr="exchangeable")),
    "respiratory_ar1": (_respiratory, dict(RESP, corstr="ar1")),
    "dietox_ar1": (lambda: _load("dietox"), dict(DIETOX, corstr="ar1")),
    "dietox_exchangeable": (lambda: _load("dietox"), dict(DIETOX, corstr="exchangeable")),
    "ohio_exchangeable_geepack": (
        lambda: _load("ohio"),
        dict(OHIO, corstr="exchangeable", algorithm="geepack"),
    ),
    "ohio_unstructured_geepack": (
        lambda: _load("ohio"),
        dict(OHIO, corstr="unstructured", algorithm="geepack"),
    ),
    "respiratory_ar1_geepack": (_respiratory, dict(RESP, corstr="ar1", algorithm="geepack")),
    "dietox_ar1_geepack": (
        lambda: _load("dietox"),
        dict(DIETOX, corstr="ar1", algorithm="geepack"),
    ),
    # test_gee_reference_more: families, links, offsets, weights, gaps, structures
    "grouse_poisson_offset_exch": (
        lambda: _load("grouseticks"),
        dict(GROUSE, groups="BROOD", corstr="exchangeable"),
    ),
    "grouse_poisson_offset_exch_no_singletons": (
        _grouse_no_singletons,
        dict(GROUSE, groups="BROOD", corstr="exchangeable"),
    ),
    "dietox_gamma_log_exch": (
        lambda: _load("dietox"),
        dict(DIETOX, family="Gamma", link="log", corstr="exchangeable"),
    ),
    "cbpp_cbind_exch": (
        lambda: _load("cbpp"),
        dict(
            formula="cbind(incidence, size - incidence) ~ period",
            family="binomial",
            groups="herd",
            corstr="exchangeable",
        ),
    ),
    "ohio_weights_exch": (_weighted_ohio, dict(OHIO, weights="w", corstr="exchangeable")),
    "dietox_gaps_ar1": (_dietox_gaps, dict(DIETOX, time="Time", corstr="ar1")),
    "ohio_gaps_ar1": (_ohio_gaps, dict(OHIO, time="age", corstr="ar1")),
    "ohio_mdep2": (lambda: _load("ohio"), dict(OHIO, corstr="m-dependent", mdep=2)),
    "ohio_fixed": (lambda: _load("ohio"), dict(OHIO, corstr="fixed", matrix=np.array(MATRIX))),
    "ohio_exch_scalefix": (
        lambda: _load("ohio"),
        dict(OHIO, corstr="exchangeable", scale_fix=True),
    ),
    "respiratory_probit_ar1": (_respiratory, dict(RESP, link="probit", corstr="ar1")),
    "grouse_negbin_independence": (
        lambda: _load("grouseticks"),
        dict(formula="TICKS ~ YEAR + cHEIGHT", groups="BROOD", family=_negbin(1.4)),
    ),
    "grouse_negbin_exch": (
        lambda: _load("grouseticks"),
        dict(
            formula="TICKS ~ YEAR + cHEIGHT",
            groups="BROOD",
            family=_negbin(2.0),
            corstr="exchangeable",
        ),
    ),
    "ohio_interaction_exch": (
        lambda: _load("ohio"),
        dict(OHIO, formula="resp ~ age * smoke", corstr="exchangeable"),
    ),
    # test_gee_small_sample: the small-sample variances' cases
    "respiratory_center1_exch": (
        lambda: _respiratory().query("center == 1"),
        dict(RESP, formula="outcome ~ treat + age + baseline", corstr="exchangeable"),
    ),
    "ohio_small_unbalanced_exch": (_ohio_small, dict(OHIO, corstr="exchangeable")),
    "dietox_small_gaps_ar1": (_dietox_small, dict(DIETOX, time="Time", corstr="ar1")),
    "grouse_small_poisson_exch": (
        _grouse_small,
        dict(
            formula="TICKS ~ YEAR + cHEIGHT",
            family="poisson",
            groups="LOCATION",
            corstr="exchangeable",
        ),
    ),
    # test_gee_moments: R's gee::gee moment estimators
    "ohio_exchangeable_gee": (
        lambda: _load("ohio"),
        dict(OHIO, corstr="exchangeable", moments="gee"),
    ),
    "ohio_ar1_gee": (lambda: _load("ohio"), dict(OHIO, corstr="ar1", moments="gee")),
    "ohio_unstructured_gee": (
        lambda: _load("ohio"),
        dict(OHIO, corstr="unstructured", moments="gee"),
    ),
    "ohio_mdep2_gee": (
        lambda: _load("ohio"),
        dict(OHIO, corstr="m-dependent", mdep=2, moments="gee"),
    ),
    "dietox_exchangeable_gee": (
        lambda: _load("dietox"),
        dict(DIETOX, corstr="exchangeable", moments="gee"),
    ),
    "dietox_ar1_gee": (lambda: _load("dietox"), dict(DIETOX, corstr="ar1", moments="gee")),
}

_ORDERED = ("ar1", "unstructured", "m-dependent", "fixed")


def _prepared(name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The case's rows and arguments, with the position within the cluster as time
    where the structure pairs rows by their order and the case gives no time."""
    make, spec = CASES[name]
    data = make().reset_index(drop=True)
    spec = dict(spec)
    if spec.get("time") is None and spec.get("corstr") in _ORDERED:
        data["pos"] = data.groupby(spec["groups"], observed=True).cumcount() + 1
        spec["time"] = "pos"
    return data, spec


def _partitioned(data: pd.DataFrame, groups: str, n: int = 4, seed: int = 3) -> Any:
    """The rows shuffled into ``n`` partitions, each cluster whole in one (no index:
    the fit checks that in a pass)."""
    shuffled = data.sample(frac=1.0, random_state=seed)
    codes = pd.factorize(shuffled[groups])[0]
    parts = [shuffled.loc[codes % n == k] for k in range(n)]
    return dd.concat([dd.from_pandas(p, npartitions=1, sort=False) for p in parts])


def _close(a: Any, b: Any, what: str, tol: float = TOL) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, what
    assert np.array_equal(np.isnan(a), np.isnan(b)), what
    ok = ~np.isnan(b)
    a, b = a[ok], b[ok]
    scale = np.maximum(np.abs(b), np.max(np.abs(b), initial=1e-300) * 1e-3)
    worst = float(np.max(np.abs(a - b) / scale, initial=0.0))
    assert worst <= tol, f"{what}: max relative difference {worst:.3g} > {tol:g}"


def _check(fit: Any, ref: Any, kinds: tuple[str, ...] = ("robust", "naive")) -> None:
    assert isinstance(fit, gee_plugin.GEEResult)
    assert fit.fixef_names == list(ref.coef.index)
    _close(fit.coef, ref.coef, "coef")
    for kind in kinds:
        try:
            want = ref.get_vcov(kind)
        except ValueError as err:  # e.g. Kauermann-Carroll with a leverage of 1
            with pytest.raises(ValueError, match=str(err)[:30]):
                fit.get_vcov(kind)
            continue
        _close(fit.get_vcov(kind), want, f"vcov {kind}")
    assert list(fit.corr_params.index) == list(ref.corr_params.index)
    _close(fit.corr_params, ref.corr_params, "alpha")
    _close(fit.scale, ref.scale, "scale")
    assert fit.nobs == ref.nobs and fit.n_clusters == ref.n_clusters
    assert fit.max_cluster_size == ref.max_cluster_size
    assert fit.converged == ref.converged and fit.n_iter == ref.n_iter


@pytest.fixture(params=["threads", "LocalCluster"])
def scheduler(request: pytest.FixtureRequest) -> Any:
    """The threaded scheduler (``None``: dask's current one) or the session's
    2-worker ``distributed.LocalCluster``."""
    if request.param == "threads":
        return None
    return request.getfixturevalue("cluster_client")


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_reference_case(name: str, scheduler: Any) -> None:
    data, spec = _prepared(name)
    ref = gee(data=data, **spec)
    ddf = _partitioned(data, spec["groups"])
    assert ddf.npartitions == 4 and not ddf.known_divisions
    fit = gee(data=ddf, client=scheduler, **spec)
    _check(fit, ref, KINDS)
    _close(fit.scale_se, ref.scale_se, "scale se")
    _close(fit.corr_params_se, ref.corr_params_se, "alpha se")
    assert str(fit.summary()) == str(ref.summary())


#: Cases whose result methods are compared in full (a refit per anova term and QIC).
FULL = ("dietox_ar1", "respiratory_exchangeable", "ohio_unstructured", "ohio_interaction_exch")


@pytest.mark.parametrize("name", FULL)
def test_result_methods(name: str) -> None:
    data, spec = _prepared(name)
    ref = gee(data=data, **spec)
    fit = gee(data=_partitioned(data, spec["groups"]), **spec)
    for kind in (None, "jackknife"):
        _close(fit.confint(std_err=kind), ref.confint(std_err=kind), f"confint {kind}")
        _close(fit.coef_table(kind), ref.coef_table(kind), f"coef_table {kind}")
    t, r = gee_plugin.tidy_gee(fit, conf_int=True), gee_plugin.tidy_gee(ref, conf_int=True)
    assert list(t["term"]) == list(r["term"])
    _close(t.drop(columns="term"), r.drop(columns="term"), "tidy")
    _close(gee_plugin.glance_gee(fit), gee_plugin.glance_gee(ref), "glance")
    _close(mm.tidy(fit).drop(columns="term"), mm.tidy(ref).drop(columns="term"), "mm.tidy")
    _close(mm.glance(fit), mm.glance(ref), "mm.glance")
    _close(fit.qic(), ref.qic(), "qic")
    _close(gee_plugin.qic(fit), gee_plugin.qic(ref), "qic table")
    for kind in ("sequential", "marginal"):
        a, b = fit.anova(type=kind), ref.anova(type=kind)
        assert list(a.index) == list(b.index) and a.attrs == b.attrs
        _close(a, b, f"anova {kind}")
    _close(
        fit.wald_test(terms=list(fit.fixef_names[1:])).to_numpy(),
        ref.wald_test(terms=list(ref.fixef_names[1:])).to_numpy(),
        "wald",
    )
    _close(fit.working_correlation(), ref.working_correlation(), "working correlation")
    sizes, want = fit.cluster_sizes, ref.cluster_sizes
    assert [str(v) for v in sizes.index] == [str(v) for v in want.index]
    assert sizes.tolist() == want.tolist()
    md = fit.with_std_err("md")
    assert str(md.summary()) == str(ref.with_std_err("md").summary())


def test_row_outputs_are_lazy_and_equal() -> None:
    data, spec = _prepared("grouse_poisson_offset_exch")
    spec = dict(spec, formula="TICKS ~ YEAR + cHEIGHT", offset="lh")
    data["lh"] = np.log(data["HEIGHT"])
    data.loc[data.index[::37], "cHEIGHT"] = np.nan  # rows left out by both
    ref = gee(data=data, **spec)
    ddf = _partitioned(data, spec["groups"])
    fit = gee(data=ddf, **spec)
    _check(fit, ref)
    pairs = [
        (fit.fitted(), ref.fitted()),
        (fit.linear_predictor(), ref.linear_predictor()),
        (fit.predict(), ref.predict()),
        (fit.predict(type="response"), ref.predict(type="response")),
        (fit.predict(ddf), ref.predict(data).loc[ref.fitted().index]),
    ]
    pairs += [(fit.residuals(t), ref.residuals(t)) for t in ("response", "pearson", "working")]
    pairs.append((fit.residuals("deviance"), ref.residuals("deviance")))
    for lazy, want in pairs:
        assert hasattr(lazy, "dask")
        got = lazy.compute()
        assert got.name == want.name
        got = got.loc[want.index] if len(got) == len(want) else got.dropna().loc[want.index]
        _close(got.to_numpy(), want.to_numpy(), f"{want.name}")
    new = data.head(20)
    _close(fit.predict(new, se_fit=True), ref.predict(new, se_fit=True), "predict se")
    with pytest.raises(mm.ModelSpecificationError, match="in-memory newdata"):
        fit.predict(ddf, se_fit=True)


def test_index_with_known_divisions() -> None:
    """The cluster column as the index (known divisions): no checking pass."""
    data, spec = _prepared("respiratory_ar1")
    ddf = dd.from_pandas(data.sample(frac=1.0, random_state=5), npartitions=5).set_index("cid")
    assert ddf.npartitions >= 3 and ddf.known_divisions
    _check(gee(data=ddf, **spec), gee(data=data, **spec), KINDS)


def test_sorted_frame_checked_in_a_pass() -> None:
    """Clusters whole in partitions without an index: accepted after the check."""
    data, spec = _prepared("ohio_exchangeable")
    data = data.sort_values(["id", "age"]).reset_index(drop=True)
    ddf = dd.from_pandas(data, chunksize=4 * 97, sort=False)
    assert ddf.npartitions > 1
    _check(gee(data=ddf, **spec), gee(data=data, **spec))


def test_one_cluster_partitions() -> None:
    """A partition may hold a single cluster (the in-memory fit needs two in all)."""
    data, spec = _prepared("cbpp_cbind_exch")
    ddf = _partitioned(data, "herd", n=15)
    assert ddf.npartitions == 15
    _check(gee(data=ddf, **spec), gee(data=data, **spec), KINDS)


def test_missing_cluster_rows_dropped_with_a_warning() -> None:
    data, spec = _prepared("ohio_exchangeable")
    data["id"] = data["id"].astype(float)
    data.loc[data.index[::50], "id"] = np.nan
    with pytest.warns(UserWarning, match="rows with a missing cluster") as rec:
        ref = gee(data=data, **spec)
    in_memory = str(rec[0].message)
    with pytest.warns(UserWarning, match="rows with a missing cluster") as rec:
        fit = gee(
            data=_partitioned(
                data.dropna(subset=["id"]).pipe(
                    lambda d: pd.concat([d, data.loc[data["id"].isna()]])
                ),
                "id",
            ),
            **spec,
        )
    assert str(rec[0].message) == in_memory
    _check(fit, ref)


def test_split_clusters_are_an_error() -> None:
    data, spec = _prepared("ohio_exchangeable")
    data = data.sort_values(["id", "age"]).reset_index(drop=True)
    ddf = dd.from_pandas(data, chunksize=4 * 97 + 2, sort=False)  # cuts a cluster
    with pytest.raises(mm.ModelSpecificationError, match=r"'id'.*set_index\('id'\)"):
        gee(data=ddf, **spec)


def test_unknown_divisions_with_split_clusters_are_an_error() -> None:
    data, spec = _prepared("ohio_ar1")
    data = data.sort_values(["id", "age"]).set_index("id")
    # the index, unknown divisions, and partitions of 101 rows that cut clusters
    parts = [data.iloc[i : i + 101] for i in range(0, len(data), 101)]
    ddf = dd.concat([dd.from_pandas(p, npartitions=1) for p in parts]).clear_divisions()
    assert not ddf.known_divisions
    with pytest.raises(mm.ModelSpecificationError, match=r"partitions.*set_index\('id'\)"):
        gee(data=ddf, **spec)


def test_refused_and_bad_options() -> None:
    data, spec = _prepared("ohio_exchangeable")
    ddf = dd.from_pandas(data, npartitions=2).set_index("id")
    with pytest.raises(mm.ModelSpecificationError, match="groups"):
        gee(data=ddf, **{**spec, "groups": "nope"})
    with pytest.raises(mm.ModelSpecificationError, match="make one column"):
        gee(data=ddf, **{**spec, "groups": ["id", "smoke"]})
    with pytest.raises(mm.ModelSpecificationError, match="not available"):
        gee(data=ddf, nonsense=1, **spec)
    with pytest.raises(ValueError, match="unknown variance type"):
        gee(data=ddf, **{**spec, "std_err": "bogus"})
    with pytest.raises(ValueError, match="takes no prior weights"):
        gee(
            data=dd.from_pandas(_weighted_ohio(), npartitions=2).set_index("id"),
            **{**spec, "weights": "w", "moments": "gee"},
        )
    fit = gee(data=ddf, **spec)
    with pytest.raises(ValueError, match="rows in memory"):
        gee_plugin.anova(fit, gee(data=ddf, **{**spec, "formula": "resp ~ age"}))


@pytest.mark.parametrize("corstr", ["ar1", "unstructured", "m-dependent", "fixed"])
def test_ordered_structures_need_time(corstr: str) -> None:
    # Without time= the in-memory fit pairs rows by their order within a cluster, which a
    # Dask frame does not keep after set_index: ohio's ar1 coefficients moved by 0.08.
    ddf = dd.from_pandas(_load("ohio").sample(frac=1.0, random_state=3), npartitions=3)
    extra = {"matrix": np.array(MATRIX)} if corstr == "fixed" else {}
    with pytest.raises(mm.ModelSpecificationError, match=rf"'{corstr}'.*needs time=.*'id'"):
        gee(data=ddf.set_index("id"), corstr=corstr, **OHIO, **extra)


def test_order_free_structures_need_no_time() -> None:
    data = _load("ohio")
    ddf = dd.from_pandas(data.sample(frac=1.0, random_state=3), npartitions=3).set_index("id")
    _check(
        gee(data=ddf, corstr="exchangeable", **OHIO), gee(data=data, corstr="exchangeable", **OHIO)
    )


def test_bad_time_and_fixed_size() -> None:
    data, spec = _prepared("ohio_fixed")
    ddf = _partitioned(data, "id")
    with pytest.raises(ValueError, match="fixed working correlation is 3 x 3"):
        gee(data=ddf, **{**spec, "matrix": np.eye(3)})
    with pytest.raises(mm.ModelSpecificationError, match="'when' not found"):
        gee(data=ddf, **{**spec, "time": "when"})


def test_distributed_cluster(cluster_client: Any) -> None:
    for name in ("respiratory_ar1", "ohio_unstructured"):
        data, spec = _prepared(name)
        ddf = _partitioned(data, spec["groups"])
        fit = gee(data=ddf, client=cluster_client, **spec)
        ref = gee(data=data, **spec)
        _check(fit, ref, KINDS)
        assert str(fit.summary()) == str(ref.summary())
        _close(fit.qic(), ref.qic(), "qic")
        _close(fit.anova(), ref.anova(), "anova")


def test_offset_and_weights() -> None:
    data = _load("ohio")
    data["off"] = 0.1 * data["age"]
    data["w"] = 1.0 + (data["id"] % 3)
    spec = dict(
        formula="resp ~ age + smoke + offset(0.2 * smoke)",
        groups="id",
        time="age",
        family="binomial",
        corstr="ar1",
        offset="off",
        weights="w",
    )
    ddf = dd.from_pandas(data, npartitions=3).set_index("id")
    _check(gee(data=ddf, **spec), gee(data=data, **spec), KINDS)


def test_start_and_iteration_limits() -> None:
    data, spec = _prepared("ohio_exchangeable")
    ddf = _partitioned(data, "id")
    start = {"start": [-1.8, -0.1, 0.2]}
    _check(gee(data=ddf, **spec, **start), gee(data=data, **spec, **start))
    short = {"maxiter": 2, "tol": 1e-14}
    with pytest.warns(gee_plugin.GEEConvergenceWarning):
        ref = gee(data=data, **spec, **short)
    with pytest.warns(gee_plugin.GEEConvergenceWarning):
        fit = gee(data=ddf, **spec, **short)
    _check(fit, ref)
    with pytest.raises(ValueError, match="one value per coefficient"):
        gee(data=ddf, **spec, start=[0.0])


def test_same_errors_as_in_memory() -> None:
    data, spec = _prepared("ohio_ar1_gee")
    data = data.loc[~((data["id"] == 3) & (data["age"] > -2))]  # a one-row cluster
    with pytest.raises(gee_plugin.GEEError, match="more than 1 row") as err:
        gee(data=data, **spec)
    with pytest.raises(gee_plugin.GEEError) as got:
        gee(data=_partitioned(data, "id"), **spec)
    assert str(got.value) == str(err.value)
    data, spec = _prepared("dietox_gaps_ar1")
    data["Time"] = data["Time"] + 0.5 * (data["Time"] == 12)
    spec = dict(spec, corstr="m-dependent")
    with pytest.raises(ValueError, match="whole-number times") as err:
        gee(data=data, **spec)
    with pytest.raises(ValueError) as got:
        gee(data=_partitioned(data, "Pig"), **spec)
    assert str(got.value) == str(err.value)
