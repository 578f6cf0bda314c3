"""Cluster layout: which rows form a cluster, their order in time, and size groups.

GEE needs each cluster's rows together and in time order.  Rather than trusting the
data's row order (geepack silently treats every change of ``id`` between consecutive
rows as a new cluster), the rows are sorted once by (cluster size, cluster, time).
Clusters of one size then form a contiguous block that reshapes to ``(K_m, m, ...)``,
so that every per-cluster computation is a batched array operation over clusters of
equal size; the only Python loop is over the distinct cluster sizes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mixedmodels import ModelSpecificationError
from mixedmodels.interfaces import FloatArray

__all__ = ["ClusterLayout", "SizeGroup", "build_layout", "resolve_column"]

IntArray = NDArray[np.int64]


@dataclass
class SizeGroup:
    """All clusters with ``size`` rows: rows ``start:stop`` of the sorted order.

    Attributes
    ----------
    size
        Rows per cluster, ``m``.
    start, stop
        Slice of the sorted rows; ``stop - start == n_clusters * size``.
    clusters
        ``(K_m,)`` cluster indices (into :attr:`ClusterLayout.labels`).
    times
        ``(K_m, m)`` time of each row (positions ``1..m`` when no time was given).
    waves
        ``(K_m, m)`` index of each row's time among the distinct times (0-based).
    """

    size: int
    start: int
    stop: int
    clusters: IntArray
    times: FloatArray
    waves: IntArray

    @property
    def n_clusters(self) -> int:
        return int(self.clusters.shape[0])

    def block(self, values: NDArray[Any]) -> NDArray[Any]:
        """Rows of ``values`` (in sorted order) reshaped to ``(K_m, m, ...)``."""
        part = values[self.start : self.stop]
        return part.reshape((self.n_clusters, self.size, *part.shape[1:]))


@dataclass
class ClusterLayout:
    """How the rows used in fitting are grouped into clusters.

    Attributes
    ----------
    order
        ``(n,)`` permutation: sorted position ``i`` holds used row ``order[i]``.
    labels
        Cluster labels, one per cluster (index into it with the cluster codes).
    sizes
        ``(K,)`` rows per cluster, in label order.
    groups
        One :class:`SizeGroup` per distinct cluster size, smallest first.
    time_values
        Distinct times in increasing order (``1..max size`` without a time variable).
    has_time
        Whether a time variable was given (else time is the position in the data).
    time_name
        Name of the time variable (``None`` without one).
    """

    order: IntArray
    labels: list[Any]
    sizes: IntArray
    groups: list[SizeGroup]
    time_values: FloatArray
    has_time: bool
    time_name: str | None = None

    @property
    def n_obs(self) -> int:
        return int(self.order.shape[0])

    @property
    def n_clusters(self) -> int:
        return len(self.labels)

    @property
    def max_size(self) -> int:
        return int(self.sizes.max()) if self.sizes.size else 0

    @property
    def cluster_order(self) -> IntArray:
        """Cluster indices in the order their blocks appear in the sorted rows."""
        return np.concatenate([g.clusters for g in self.groups]).astype(np.int64)


def resolve_column(
    spec: Any, data: pd.DataFrame, rows: pd.Index, what: str
) -> tuple[pd.Series | list[pd.Series], str]:
    """The values of ``spec`` (column name, list of names, or array) on the used rows.

    Returns the series (a list for several columns) and a display name.
    """
    if isinstance(spec, str):
        if spec not in data.columns:
            avail = ", ".join(map(str, list(data.columns)[:40]))
            raise ModelSpecificationError(
                f"{what}: column {spec!r} not found in data; available: {avail}"
            )
        return data.loc[rows, spec], spec
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
        parts = []
        for s in spec:
            part, _ = resolve_column(s, data, rows, what)
            assert isinstance(part, pd.Series)
            parts.append(part)
        return parts, ":".join(spec)
    arr = np.asarray(spec)
    if arr.ndim != 1 or arr.shape[0] != len(data):
        raise ModelSpecificationError(
            f"{what} must be a column name, a list of column names, or an array with one "
            f"value per row of data ({len(data)}); got shape {arr.shape}"
        )
    series = pd.Series(arr, index=data.index)
    return series.loc[rows], what


def _codes_of(values: pd.Series | list[pd.Series]) -> tuple[IntArray, list[Any], NDArray[np.bool_]]:
    """Integer cluster codes (labels in sorted order where sortable), and missing rows."""
    parts = values if isinstance(values, list) else [values]
    missing = np.zeros(len(parts[0]), dtype=bool)
    for p in parts:
        missing |= p.isna().to_numpy()
    if len(parts) == 1:
        series = parts[0]
        try:
            codes, uniques = pd.factorize(series, sort=True)
        except TypeError:  # labels of mixed, unorderable types
            codes, uniques = pd.factorize(series, sort=False)
        labels = list(uniques)
    else:
        index = pd.MultiIndex.from_arrays([p.to_numpy() for p in parts])
        try:
            mcodes, muniques = index.factorize(sort=True)
        except TypeError:
            mcodes, muniques = index.factorize(sort=False)
        codes = np.asarray(mcodes)
        labels = [":".join(map(str, u)) for u in muniques]
    return np.asarray(codes, dtype=np.int64), labels, missing


def _time_of(values: pd.Series, name: str) -> tuple[FloatArray, NDArray[np.bool_]]:
    missing = values.isna().to_numpy()
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if not dtype.ordered:
            raise ModelSpecificationError(
                f"time: column {name!r} is an unordered factor; give a numeric time or an "
                "ordered factor (its level order is the time order)"
            )
        codes = values.cat.codes.to_numpy().astype(np.float64)
        return codes + 1.0, missing
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise ModelSpecificationError(f"time: column {name!r} must be numeric (dtype {dtype})")
    t = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(t) & ~missing
    if bad.any():
        raise ModelSpecificationError(f"time: column {name!r} has {int(bad.sum())} infinite values")
    return t, missing


def build_layout(
    groups: Any,
    time: Any,
    data: pd.DataFrame,
    rows: pd.Index,
    min_clusters: int = 2,
) -> tuple[ClusterLayout, NDArray[np.bool_]]:
    """Group the used rows into clusters ordered by time.

    Parameters
    ----------
    groups
        Column name, list of column names (their interaction), or an array aligned
        with ``data``.
    time
        ``None`` (time = position within the cluster in the data's row order), a
        column name or an array aligned with ``data``.
    data
        The model's data.
    rows
        Index labels of the rows the model uses.
    min_clusters
        Fewer clusters are an error (2: the sandwich needs several; a chunk of a data
        set held in chunks may hold one).

    Returns
    -------
    layout, keep
        The layout of the rows kept, and a mask over ``rows`` of the rows kept (rows
        with a missing cluster or time are dropped with a warning).

    Raises
    ------
    mixedmodels.ModelSpecificationError
        A missing column, a single cluster, or two rows of one cluster at the same time.
    """
    if groups is None:
        raise ModelSpecificationError(
            "GEE needs clusters: pass groups= (a column name, a list of column names, or "
            "an array with one value per row)"
        )
    gvalues, gname = resolve_column(groups, data, rows, "groups")
    codes, labels, missing = _codes_of(gvalues)
    t: FloatArray | None = None
    tname: str | None = None
    if time is not None:
        tvalues, tname = resolve_column(time, data, rows, "time")
        if isinstance(tvalues, list):
            raise ModelSpecificationError("time must be a single column or array")
        t, tmiss = _time_of(tvalues, tname)
        missing = missing | tmiss
    keep = ~missing
    if missing.any():
        warnings.warn(
            f"{int(missing.sum())} rows with a missing cluster ({gname})"
            + (f" or time ({tname})" if tname else "")
            + f" were dropped ({int(keep.sum())} used)",
            UserWarning,
            stacklevel=4,
        )
        codes = codes[keep]
        if t is not None:
            t = t[keep]
        # Renumber the clusters that remain.
        present = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
        remap = np.full(len(labels), -1, dtype=np.int64)
        remap[present] = np.arange(present.size)
        codes = remap[codes]
        labels = [labels[i] for i in present.tolist()]
    n = codes.shape[0]
    if n == 0:
        raise ModelSpecificationError(
            "no rows left once rows with a missing cluster or time are dropped"
        )
    if len(labels) < min_clusters:
        raise ModelSpecificationError(
            f"groups ({gname}): all {n} rows are in one cluster ({labels[0]!r}); GEE needs "
            "at least two clusters, as its robust (sandwich) variance is estimated from the "
            "spread between clusters. Use a grouping with several clusters, or a model "
            "without clusters (a generalized linear model)"
        )
    sizes = np.bincount(codes, minlength=len(labels)).astype(np.int64)

    if t is None:
        # Position within the cluster, in the data's row order (geepack's waves).
        by_cluster = np.argsort(codes, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pos = np.empty(n, dtype=np.float64)
        pos[by_cluster] = np.arange(n) - np.repeat(starts, sizes) + 1.0
        t = pos
    order = np.lexsort((t, codes, sizes[codes])).astype(np.int64)
    ts = t[order]
    cs = codes[order]
    dup = (cs[1:] == cs[:-1]) & (ts[1:] == ts[:-1])
    if dup.any():
        i = int(np.argmax(dup))
        raise ModelSpecificationError(
            f"time: cluster {labels[int(cs[i])]!r} has two rows at time {ts[i]:g}"
            f"{' (' + tname + ')' if tname else ''}; each row of a cluster needs its own time"
        )
    time_values = np.unique(ts)
    waves = np.searchsorted(time_values, ts).astype(np.int64)
    size_sorted = sizes[cs]
    out: list[SizeGroup] = []
    for m in np.unique(sizes).tolist():
        # Rows are sorted by size first, so each size is one contiguous block.
        lo = int(np.searchsorted(size_sorted, m, side="left"))
        hi = int(np.searchsorted(size_sorted, m, side="right"))
        k = (hi - lo) // m
        out.append(
            SizeGroup(
                size=int(m),
                start=lo,
                stop=hi,
                clusters=cs[lo:hi:m].copy(),
                times=ts[lo:hi].reshape(k, m).copy(),
                waves=waves[lo:hi].reshape(k, m).copy(),
            )
        )
    layout = ClusterLayout(
        order=order,
        labels=labels,
        sizes=sizes,
        groups=out,
        time_values=time_values,
        has_time=time is not None,
        time_name=tname,
    )
    return layout, keep


def pair_indices(m: int) -> tuple[IntArray, IntArray]:
    """Row indices ``(j, k)``, ``j < k``, of the pairs within a cluster of ``m`` rows."""
    j, k = np.triu_indices(m, 1)
    return j.astype(np.int64), k.astype(np.int64)


def format_time(values: Sequence[float]) -> list[str]:
    """Short labels of time values (``1``, ``2.5``)."""
    return [f"{v:g}" for v in values]
