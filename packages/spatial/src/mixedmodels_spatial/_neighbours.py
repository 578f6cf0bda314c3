"""Orderings of the locations and each location's nearest previously-ordered
neighbours (the conditioning sets of a Vecchia approximation)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = ["ORDERINGS", "order_locations", "ordered_neighbours", "search_points"]

ORDERINGS = ("maxmin", "coord", "sum", "none")


def search_points(coords: FloatArray, metric: str) -> FloatArray:
    """Points whose Euclidean distances rank like the metric's: longitude/latitude go
    onto the unit sphere (chord length grows with the great-circle distance)."""
    if metric == "great_circle":
        lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
        return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    return np.asarray(coords, dtype=np.float64)


def _grid_maxmin(pts: FloatArray, seed: int) -> IntArray:
    """An approximate maxmin ordering: coarse-to-fine grids, at each level the point
    nearest each cell's centre among those not yet ordered; random within a level."""
    n, d = pts.shape
    lo = pts.min(axis=0)
    span = float(np.max(pts.max(axis=0) - lo)) or 1.0
    level = np.full(n, -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    max_level = int(np.ceil(np.log2(max(n, 2)) / max(d, 1))) + 3
    for lev in range(max_level + 1):
        free = np.flatnonzero(level < 0)
        if free.size == 0:
            break
        if lev == max_level:
            level[free] = lev
            break
        cells_per_axis = 2**lev
        size = span / cells_per_axis
        cell = np.minimum(((pts[free] - lo) / size).astype(np.int64), cells_per_axis - 1)
        centre = lo + (cell + 0.5) * size
        dist = np.sum((pts[free] - centre) ** 2, axis=1)
        key = np.ravel_multi_index(cell.T, (cells_per_axis,) * d)
        order = np.lexsort((dist, key))
        first = np.ones(order.size, dtype=bool)
        first[1:] = key[order][1:] != key[order][:-1]
        level[free[order[first]]] = lev
    return np.lexsort((np.asarray(rng.random(n)), level))


def order_locations(coords: FloatArray, method: str = "maxmin", seed: int = 0) -> IntArray:
    """The order of the locations: ``"maxmin"`` (approximate maxmin, spread-out points
    first: the most accurate Vecchia approximations), ``"coord"`` (by the first
    coordinate, then the others), ``"sum"`` (by the sum of the coordinates, spNNGP's
    default) or ``"none"`` (as given)."""
    n = coords.shape[0]
    if method == "maxmin":
        return _grid_maxmin(coords, seed)
    if method == "coord":
        return np.lexsort(coords.T[::-1])
    if method == "sum":
        return np.argsort(coords.sum(axis=1), kind="stable")
    if method == "none":
        return np.arange(n)
    raise ValueError(f"unknown ordering {method!r}; choose one of {list(ORDERINGS)}")


def _smallest(d: FloatArray, idx: IntArray, m: int) -> tuple[FloatArray, IntArray]:
    part = np.argsort(d, axis=1, kind="stable")[:, :m]
    return np.take_along_axis(d, part, 1), np.take_along_axis(idx, part, 1)


def ordered_neighbours(pts: FloatArray, m: int) -> IntArray:
    """For each point (in the given order) the indices of its ``m`` nearest points
    among those before it, nearest first; ``-1`` pads the first ``m`` rows.

    Exact, by blocks of ranks ``[a, 2a)``: a k-d tree over all earlier blocks gives
    their ``m`` nearest; a k-d tree over the block gives the candidates inside it,
    queried with more neighbours until its farthest candidate is beyond the ``m``-th
    best (so no earlier point of the block can be missed).
    """
    n = pts.shape[0]
    nb = np.full((n, m), -1, dtype=np.int64)
    start = min(n, max(m + 1, 256))
    head = pts[:start]
    D = np.sqrt(((head[:, None, :] - head[None, :, :]) ** 2).sum(-1))
    D[np.triu_indices(start)] = np.inf
    idx = np.broadcast_to(np.arange(start), (start, start))
    d_head, i_head = _smallest(D, idx, min(m, start))
    i_head = np.where(np.isfinite(d_head), i_head, -1)
    nb[:start, : i_head.shape[1]] = i_head
    a = start
    while a < n:
        b = min(n, 2 * a)
        d_prev, i_prev = cKDTree(pts[:a]).query(pts[a:b], k=m)
        d_prev = np.asarray(d_prev, dtype=np.float64).reshape(b - a, m)
        i_prev = np.asarray(i_prev, dtype=np.int64).reshape(b - a, m)
        block = cKDTree(pts[a:b])
        rows = np.arange(b - a)
        k = min(m + 1, b - a)
        while rows.size:
            d_in, i_in = block.query(pts[a + rows], k=k)
            d_in = np.asarray(d_in, dtype=np.float64).reshape(rows.size, k)
            i_in = np.asarray(i_in, dtype=np.int64).reshape(rows.size, k)
            d_cand = np.where(i_in < rows[:, None], d_in, np.inf)
            d_all = np.concatenate([d_prev[rows], d_cand], axis=1)
            i_all = np.concatenate([i_prev[rows], i_in + a], axis=1)
            d_best, i_best = _smallest(d_all, i_all, m)
            done = (d_in[:, -1] >= d_best[:, -1]) | (k >= b - a)
            nb[a + rows[done]] = i_best[done]
            rows = rows[~done]
            k = min(2 * k, b - a)
        a = b
    return nb
