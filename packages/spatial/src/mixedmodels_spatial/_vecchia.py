"""The nearest-neighbour (Vecchia) likelihood of a spatial Gaussian response.

With the locations ordered and ``N(i)`` the ``m`` nearest earlier neighbours of ``i``,
``p(y) ~ prod_i p(y_i | y_N(i))``: the precision's sparse Cholesky factor has row ``i``
``(e_i - b_i) / sqrt(F_i)``, ``b_i = C_NN^{-1} c_Ni``, ``F_i = 1 - c_Ni' b_i``.  Both come
from one Cholesky factor of the ``(m + 1) x (m + 1)`` correlation of ``(y_N(i), y_i)``:
its last row is ``(c_Ni' L_NN^{-T}, sqrt(F_i))`` and the last entry of its forward
solve with ``(y_N(i), y_i)`` is the whitened ``(y_i - b_i' y_N(i)) / sqrt(F_i)``.  All
points are done at once, batched (:mod:`._batched`), in chunks that bound the memory;
``m = n - 1`` is the exact likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._batched import backward_solve, cholesky_packed, forward_solve, packed_index
from ._kernel import SpatialKernel
from ._neighbours import order_locations, ordered_neighbours, search_points

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "VecchiaPlan",
    "chunks",
    "packed_distances",
    "plan",
    "whiten",
    "whiten_derivatives",
]

# Rows per chunk: (m + 1)^2 * chunk doubles per array stay near 4 MB (cache friendly).
_CHUNK_DOUBLES = 500_000


@dataclass
class VecchiaPlan:
    """Ordering and conditioning sets of ``n`` locations.

    ``order[j]``: the data row at ordered position ``j``; ``neighbours (n, m)``:
    ordered positions of each position's earlier neighbours (``-1``: none);
    ``coords``: the coordinates in that order.
    """

    order: IntArray
    neighbours: IntArray
    coords: FloatArray
    m: int
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.order.size)

    def augmented(self) -> IntArray:
        """``(n, m + 1)``: neighbours then the point itself; padding points at itself."""
        own = np.arange(self.n, dtype=np.int64)[:, None]
        nb = np.where(self.neighbours >= 0, self.neighbours, own)
        return np.concatenate([nb, own], axis=1)


def plan(
    coords: FloatArray, m: int, ordering: str = "maxmin", metric: str = "euclidean", seed: int = 0
) -> VecchiaPlan:
    """Order the locations and find each one's ``m`` nearest earlier neighbours."""
    pts = search_points(coords, metric)
    order = order_locations(pts, ordering, seed)
    nb = ordered_neighbours(pts[order], m)
    return VecchiaPlan(order, nb, np.ascontiguousarray(coords[order]), m)


def chunks(n: int, k: int) -> list[tuple[int, int]]:
    """Ranges of points whose ``(k, k, c)`` arrays stay near 4 MB."""
    size = max(1, _CHUNK_DOUBLES // (k * k))
    return [(s, min(n, s + size)) for s in range(0, n, size)]


def packed_distances(vp: VecchiaPlan, kernel: SpatialKernel, params: FloatArray) -> FloatArray:
    """Distances within each conditioning set, packed lower triangles ``(T, n)``;
    parameter-free (so cached on the plan) unless the kernel has an anisotropy."""
    key = (kernel.metric, kernel.radius)
    cached = vp.cache.get("dist")
    if not kernel.anisotropy and cached is not None and cached[0] == key:
        return cached[1]
    k = vp.m + 1
    rows, cols = packed_index(k)
    aug = vp.augmented()
    out = np.empty((rows.size, vp.n))
    for s, e in chunks(vp.n, k):  # chunks of points bound the memory
        pts = vp.coords[aug[s:e]]
        d = kernel.distance(pts, pts, params)  # (c, k, k)
        out[:, s:e] = d[:, rows, cols].T
    if not kernel.anisotropy:
        vp.cache["dist"] = (key, out)
    return out


def _gathered(vp: VecchiaPlan, columns: FloatArray, aug: IntArray, s: int, e: int) -> FloatArray:
    """The columns of each conditioning set of points ``s:e``, ``(k, r, c)``; cached
    on the plan for the columns it last saw (the fit passes the same array)."""
    key = ("cols", id(columns), s, e)
    hit = vp.cache.get(key)
    if hit is not None and hit[0] is columns:
        return hit[1]
    out = np.ascontiguousarray(columns[aug[s:e]].transpose(1, 2, 0))
    if vp.cache.get("cols_of") is not columns:
        for old in [k for k in vp.cache if isinstance(k, tuple)]:
            del vp.cache[old]
        vp.cache["cols_of"] = columns
    vp.cache[key] = (columns, out)
    return out


def whiten(
    kernel: SpatialKernel, params: FloatArray, vp: VecchiaPlan, columns: FloatArray
) -> tuple[FloatArray, float]:
    """``(W, logdet)``: ``W = U' columns`` (rows in the plan's order) for the Vecchia
    factor ``U`` of the correlation's inverse, and ``log det`` of the approximated
    correlation matrix (``sum log F_i``).

    ``columns`` is ``(n, r)`` in the plan's order (response and model-matrix columns).
    """
    n, m = vp.n, vp.m
    k = m + 1
    params = np.asarray(params, dtype=np.float64)
    v = kernel.unpack(params)
    D = packed_distances(vp, kernel, params)
    rows, cols = packed_index(k)
    on_diag = rows == cols
    aug = vp.augmented()
    # Padding (the first m points have fewer than m earlier ones): uncorrelated.
    pad = np.flatnonzero(vp.neighbours[:, -1] < 0)
    valid = np.concatenate([vp.neighbours >= 0, np.ones((n, 1), dtype=bool)], axis=1)
    r = columns.shape[1]
    out = np.empty((n, r))
    logdet = 0.0
    for s, e in chunks(n, k):  # a loop over chunks of points (memory), not points
        P = kernel.rho(D[:, s:e], v)
        if v["nugget"]:
            P *= 1.0 - v["nugget"]
        P[on_diag] = 1.0
        B = _gathered(vp, columns, aug, s, e)  # (k, r, c)
        here = pad[(pad >= s) & (pad < e)] - s
        if here.size:
            ok = valid[s:e][here]  # (h, k)
            P[:, here] *= (ok[:, rows] & ok[:, cols]).T
            P[np.ix_(np.flatnonzero(on_diag), here)] = 1.0
            B = B.copy()
            B[:, :, here] *= ok.T[:, None, :]
        L = cholesky_packed(P, k)
        Z = forward_solve(L, B)
        out[s:e] = Z[-1].T
        logdet += 2.0 * float(np.sum(np.log(L[-1, -1])))
    return out, logdet


def whiten_derivatives(
    kernel: SpatialKernel, params: FloatArray, vp: VecchiaPlan, columns: FloatArray
) -> tuple[FloatArray, float, FloatArray, FloatArray]:
    """:func:`whiten` and its derivatives in the internal parameters, ``(W, logdet, dW
    (q, n, r), dlogdet (q,))``, in ``O(n m^3)`` (the Cholesky factors) plus ``O(q n m^2)``.

    For point ``i`` with ``b = C^{-1} c``, ``F = 1 - c' b`` and the whitened
    ``w = (x_i - b' x_N) / sqrt(F)``: ``db = C^{-1} (dc - dC b)``,
    ``dF = -(2 dc' b - b' dC b)``, ``dw = -db' x_N / sqrt(F) - w dF / (2 F)``, and
    ``d log F = dF / F``.
    """
    n, m = vp.n, vp.m
    k = m + 1
    params = np.asarray(params, dtype=np.float64)
    v = kernel.unpack(params)
    q = kernel.n_params
    D = packed_distances(vp, kernel, params)
    rows, cols = packed_index(k)
    on_diag = rows == cols
    aug = vp.augmented()
    pad = np.flatnonzero(vp.neighbours[:, -1] < 0)
    valid = np.concatenate([vp.neighbours >= 0, np.ones((n, 1), dtype=bool)], axis=1)
    r = columns.shape[1]
    out = np.empty((n, r))
    d_out = np.empty((q, n, r))
    d_logdet = np.zeros(q)
    logdet = 0.0
    for s, e in chunks(n, k):  # a loop over chunks of points (memory), not points
        P = kernel.rho(D[:, s:e], v)
        if v["nugget"]:
            P *= 1.0 - v["nugget"]
        diffs = None
        if kernel.anisotropy:  # coordinate differences within each set, packed
            pts = vp.coords[aug[s:e]]  # (c, k, dim)
            diffs = [(pts[:, rows, j] - pts[:, cols, j]).T for j in range(pts.shape[-1])]
        dPs = kernel.correlation_derivatives(D[:, s:e], v, P, diffs)
        P[on_diag] = 1.0
        for dP in dPs:
            dP[on_diag] = 0.0
        B = _gathered(vp, columns, aug, s, e)  # (k, r, c)
        here = pad[(pad >= s) & (pad < e)] - s
        if here.size:
            ok = valid[s:e][here]
            mask = (ok[:, rows] & ok[:, cols]).T
            P[:, here] *= mask
            P[np.ix_(np.flatnonzero(on_diag), here)] = 1.0
            for dP in dPs:
                dP[:, here] *= mask
            B = B.copy()
            B[:, :, here] *= ok.T[:, None, :]
        L = cholesky_packed(P, k)
        Z = forward_solve(L, B)
        w = Z[-1]  # (r, c)
        out[s:e] = w.T
        F = L[-1, -1] ** 2
        logdet += float(np.sum(np.log(F)))
        Lnn = L[:m, :m]
        b = backward_solve(Lnn, L[-1, :m][:, None, :])[:, 0]  # (m, c)
        xn = B[:m]  # (m, r, c)
        root = np.sqrt(F)
        c = e - s
        for j, dP in enumerate(dPs):  # a loop over parameters (few)
            full = np.empty((k, k, c))
            full[rows, cols] = dP
            full[cols, rows] = dP
            dc = full[:m, m]
            u = np.einsum("ijc,jc->ic", full[:m, :m], b, optimize=False)
            t = (dc - u)[:, None, :]
            db = backward_solve(Lnn, forward_solve(Lnn, t))[:, 0]
            dF = -(2.0 * np.sum(dc * b, axis=0) - np.sum(b * u, axis=0))
            dw = -np.einsum("ic,irc->rc", db, xn, optimize=False) / root - 0.5 * w * (dF / F)
            d_out[j, s:e] = dw.T
            d_logdet[j] += float(np.sum(dF / F))
    return out, logdet, d_out, d_logdet


def exact_whiten(
    kernel: SpatialKernel,
    params: FloatArray,
    coords: FloatArray,
    columns: FloatArray,
    dist: FloatArray | None = None,
) -> tuple[FloatArray, float, FloatArray]:
    """The exact counterpart of :func:`whiten` (dense Cholesky): ``(W, logdet, L)``;
    ``dist``: the distances between ``coords`` if known (no anisotropy)."""
    from scipy.linalg import cholesky as dense_cholesky
    from scipy.linalg import solve_triangular

    if dist is None or kernel.anisotropy:
        C = kernel.matrix(params, coords)
    else:
        C = kernel.from_distances(params, dist)
    L = dense_cholesky(C, lower=True)
    W = solve_triangular(L, columns, lower=True)
    return W, 2.0 * float(np.sum(np.log(np.diag(L)))), L


__all__ += ["exact_whiten"]
