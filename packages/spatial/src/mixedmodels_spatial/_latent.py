"""The latent nearest-neighbour GP (spNNGP's latent model): ``y = X beta + Z w + e``,
the field ``w`` at the distinct locations with the Vecchia (NNGP) prior
``w ~ N(0, sigma^2 (1 - g) R~)``, ``R~^{-1} = Q = A' F^{-1} A`` sparse (row ``i`` of ``A``
is ``e_i - b_i`` on ``i``'s ``m`` earlier neighbours), and ``e ~ N(0, sigma^2 g I)``
exactly (``g`` the nugget's share).

With ``V = g I + (1 - g) Z R~ Z'`` (``cov(y) = sigma^2 V``) and the posterior precision
of the field ``M = Q / (1 - g) + Z'Z / g`` (over ``sigma^2``):

* ``V^{-1} = I / g - Z M^{-1} Z' / g^2`` (Woodbury),
* ``log det V = log det M + sum log F_i + u log(1 - g) + n log g``,
* ``E[w | y] = M^{-1} Z' (y - X beta) / g`` and ``cov(w | y) = sigma^2 M^{-1}``.

``M`` is factored by CHOLMOD (through cvxopt, when installed) or SuperLU, its ordering and
symbolic analysis done once per plan (:mod:`._sparse_cholesky`).  With ``m = u - 1`` the
prior is the exact GP and the likelihood the exact one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from ._batched import backward_solve, cholesky_packed, forward_solve, packed_index
from ._kernel import SpatialKernel
from ._sparse_cholesky import SparseCholesky, cholmod_available
from ._vecchia import VecchiaPlan, chunks, packed_distances, plan

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "LatentPlan",
    "latent_gls",
    "latent_plan",
    "neighbour_weight_derivatives",
    "neighbour_weights",
    "posterior",
]


@dataclass
class LatentPlan:
    """The Vecchia plan of the distinct locations and the map of the observations to
    them: ``loc[i]`` is the ordered position of observation ``i``'s location."""

    vp: VecchiaPlan
    loc: IntArray
    counts: FloatArray
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Sparse Cholesky backend: ``"auto"``, ``"cholmod"`` or ``"superlu"``.
    backend: str = "auto"

    def resolved_backend(self) -> str:
        if self.backend == "auto":
            return "cholmod" if cholmod_available() else "superlu"
        return self.backend

    @property
    def u(self) -> int:
        return self.vp.n

    @property
    def n(self) -> int:
        return int(self.loc.size)

    @property
    def m(self) -> int:
        return self.vp.m

    def z(self) -> sparse.csr_matrix:
        """``Z (n, u)``: observation to location."""
        z = self.cache.get("Z")
        if z is None:
            z = sparse.csr_matrix(
                (np.ones(self.n), (np.arange(self.n), self.loc)), shape=(self.n, self.u)
            )
            self.cache["Z"] = z
        return z


def latent_plan(
    coords: FloatArray,
    m: int,
    ordering: str = "maxmin",
    metric: str = "euclidean",
    seed: int = 0,
    backend: str = "auto",
) -> LatentPlan:
    """Order the distinct locations of ``coords`` and find their neighbours;
    ``backend``: the sparse Cholesky's (:class:`SparseCholesky`)."""
    uniq, inv = np.unique(coords, axis=0, return_inverse=True)
    u = uniq.shape[0]
    if not 1 <= m <= u - 1:
        raise ValueError(
            f"m = {m} neighbours: the latent NNGP needs 1 <= m <= u - 1 = {u - 1} (u: the "
            "number of distinct locations; m = u - 1 is the exact likelihood)"
        )
    vp = plan(uniq, m, ordering, metric, seed)
    pos = np.empty(u, dtype=np.int64)
    pos[vp.order] = np.arange(u)
    loc = pos[np.asarray(inv).ravel()]
    counts = np.bincount(loc, minlength=u).astype(np.float64)
    return LatentPlan(vp, loc, counts, backend=backend)


def neighbour_weights(
    kernel: SpatialKernel, params: FloatArray, vp: VecchiaPlan, nugget: bool = False
) -> tuple[FloatArray, FloatArray]:
    """``(B (m, u), F (u,))``: each location's kriging weights on its earlier neighbours
    and conditional variance, for the field's correlation (no nugget) or, with
    ``nugget``, for the correlation of distinct locations ``(1 - g) rho`` (the nugget an
    iid location-level part: the spatial GLMM's)."""
    n, m = vp.n, vp.m
    k = m + 1
    v = kernel.unpack(params)
    shrink = 1.0 - v["nugget"] if nugget else 1.0
    D = packed_distances(vp, kernel, params)
    rows, cols = packed_index(k)
    on_diag = rows == cols
    pad = np.flatnonzero(vp.neighbours[:, -1] < 0)
    valid = np.concatenate([vp.neighbours >= 0, np.ones((n, 1), dtype=bool)], axis=1)
    B = np.empty((m, n))
    F = np.empty(n)
    for s, e in chunks(n, k):  # chunks of locations (memory), not locations
        P = kernel.rho(D[:, s:e], v)
        if shrink != 1.0:
            P *= shrink
        P[on_diag] = 1.0
        here = pad[(pad >= s) & (pad < e)] - s
        if here.size:
            ok = valid[s:e][here]
            P[:, here] *= (ok[:, rows] & ok[:, cols]).T
            P[np.ix_(np.flatnonzero(on_diag), here)] = 1.0
        L = cholesky_packed(P, k)
        # Last row of L: (c' L_NN^{-T}, sqrt(F)); b = L_NN^{-T} (L_NN^{-1} c).
        B[:, s:e] = backward_solve(L[:m, :m], L[-1, :m][:, None, :])[:, 0]
        F[s:e] = L[-1, -1] ** 2
    return B, F


def neighbour_weight_derivatives(
    kernel: SpatialKernel, params: FloatArray, vp: VecchiaPlan
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """:func:`neighbour_weights` and their derivatives in the internal parameters:
    ``(B, F, dB (q, m, u), dF (q, u))``.  Per location, with ``C`` the neighbours'
    correlation, ``c`` their correlation with it and ``b = C^{-1} c``:
    ``db = C^{-1} (dc - dC b)`` and ``dF = -(2 dc' b - b' dC b)``.  The correlation is
    that of distinct locations, ``(1 - g) rho`` with a nugget (as :func:`neighbour_weights`
    with ``nugget=True``); with an anisotropy the coordinate differences within each
    conditioning set are formed chunk by chunk."""
    n, m = vp.n, vp.m
    k = m + 1
    q = kernel.n_params
    v = kernel.unpack(params)
    aug = vp.augmented() if kernel.anisotropy else None
    D = packed_distances(vp, kernel, params)
    rows, cols = packed_index(k)
    on_diag = rows == cols
    pad = np.flatnonzero(vp.neighbours[:, -1] < 0)
    valid = np.concatenate([vp.neighbours >= 0, np.ones((n, 1), dtype=bool)], axis=1)
    B = np.empty((m, n))
    F = np.empty(n)
    dB = np.empty((q, m, n))
    dF = np.empty((q, n))
    for s, e in chunks(n, k):  # chunks of locations (memory), not locations
        P = kernel.rho(D[:, s:e], v)
        if v["nugget"]:
            P *= 1.0 - v["nugget"]
        diffs = None
        if aug is not None:
            pts = vp.coords[aug[s:e]]  # (c, k, 2)
            diff = pts[:, rows, :] - pts[:, cols, :]  # (c, T, 2)
            diffs = [np.ascontiguousarray(diff[:, :, j].T) for j in range(diff.shape[2])]
        dPs = kernel.correlation_derivatives(D[:, s:e], v, P, diffs)
        P[on_diag] = 1.0
        for dP in dPs:
            dP[on_diag] = 0.0
        here = pad[(pad >= s) & (pad < e)] - s
        if here.size:
            ok = valid[s:e][here]
            mask = (ok[:, rows] & ok[:, cols]).T
            P[:, here] *= mask
            P[np.ix_(np.flatnonzero(on_diag), here)] = 1.0
            for dP in dPs:
                dP[:, here] *= mask
        L = cholesky_packed(P, k)
        Lnn = L[:m, :m]
        b = backward_solve(Lnn, L[-1, :m][:, None, :])[:, 0]  # (m, c)
        B[:, s:e] = b
        F[s:e] = L[-1, -1] ** 2
        c = e - s
        for j, dP in enumerate(dPs):  # a loop over parameters (few)
            full = np.empty((k, k, c))
            full[rows, cols] = dP
            full[cols, rows] = dP
            dc = full[:m, m]
            u = np.einsum("ijc,jc->ic", full[:m, :m], b, optimize=False)
            t = (dc - u)[:, None, :]
            dB[j, :, s:e] = backward_solve(Lnn, forward_solve(Lnn, t))[:, 0]
            dF[j, s:e] = -(2.0 * np.sum(dc * b, axis=0) - np.sum(b * u, axis=0))
    return B, F, dB, dF


def precision(vp: VecchiaPlan, B: FloatArray, F: FloatArray) -> sparse.csc_matrix:
    """``Q = A' F^{-1} A``, the NNGP precision of the field's correlation."""
    n, m = vp.n, vp.m
    aug = vp.augmented()  # padding points at the point itself, with weight 0
    scale = 1.0 / np.sqrt(F)
    data = np.concatenate([-B.T * scale[:, None], scale[:, None]], axis=1)
    A = sparse.csr_matrix(
        (data.ravel(), aug.ravel(), np.arange(0, n * (m + 1) + 1, m + 1)), shape=(n, n)
    )
    return (A.T @ A).tocsc()


def _lower_pattern(vp: VecchiaPlan) -> tuple[Any, Any, Any, Any]:
    """The lower triangle of ``Q``'s pattern in CSC form (``indptr``, ``indices``), the
    position there of each location's packed clique pair ``(n, T)`` and of the diagonal;
    cached on the plan (the pattern is the neighbour graph's)."""
    hit = vp.cache.get("lower_pattern")
    if hit is not None:
        return hit
    n = vp.n
    aug = vp.augmented()
    rows_t, cols_t = packed_index(vp.m + 1)
    pr, pc = aug[:, rows_t], aug[:, cols_t]
    key = np.minimum(pr, pc) * n + np.maximum(pr, pc)  # column * n + row, row >= column
    uniq, inv = np.unique(key, return_inverse=True)
    col = uniq // n
    indptr = np.searchsorted(col, np.arange(n + 1)).astype(np.int32)
    indices = (uniq - col * n).astype(np.int32)
    diag = np.searchsorted(uniq, np.arange(n) * (n + 1))
    idx = inv.reshape(key.shape).astype(np.int32 if uniq.size < 2**31 else np.int64)
    out = (indptr, indices, idx, diag)
    vp.cache["lower_pattern"] = out
    return out


def precision_lower(
    vp: VecchiaPlan, B: FloatArray, F: FloatArray, scale: float = 1.0, diagonal: Any = None
) -> sparse.csc_matrix:
    """The lower triangle (CSC) of ``scale Q + diag(diagonal)``, ``Q`` of
    :func:`precision`, summed straight into the kept pattern (``Q = sum_i a_i a_i'``,
    ``a_i = (e_i - b_i) / sqrt(F_i)`` on location ``i``'s conditioning set)."""
    indptr, indices, idx, diag = _lower_pattern(vp)
    a = np.concatenate([-B.T, np.ones((vp.n, 1))], axis=1) * (np.sqrt(scale / F))[:, None]
    rows_t, cols_t = packed_index(vp.m + 1)
    data = np.bincount(idx.ravel(), (a[:, rows_t] * a[:, cols_t]).ravel(), indices.size)
    if diagonal is not None:
        data[diag] += diagonal
    return sparse.csc_matrix((data, indices, indptr), shape=(vp.n, vp.n))


def factoriser(lp: LatentPlan) -> SparseCholesky:
    """The plan's :class:`SparseCholesky` (its ordering and symbolic analysis are kept
    across evaluations: the pattern is the neighbour graph's)."""
    chol = lp.cache.get("cholesky")
    if chol is None or chol.backend != lp.resolved_backend():
        chol = SparseCholesky(lp.backend)
        lp.cache["cholesky"] = chol
    return chol


def _factor(
    kernel: SpatialKernel, params: FloatArray, lp: LatentPlan
) -> tuple[SparseCholesky, float, float]:
    """``(factor of M, log det M + sum log F + u log(1 - g), g)``."""
    g = kernel.unpack(params)["nugget"]
    if not 0.0 < g < 1.0:
        raise np.linalg.LinAlgError("the nugget share must lie in (0, 1)")
    B, F = neighbour_weights(kernel, params, lp.vp)
    M = precision_lower(lp.vp, B, F, 1.0 / (1.0 - g), lp.counts / g)
    chol = factoriser(lp).factor(M, lower=True)
    logdet = chol.logdet + float(np.sum(np.log(F))) + lp.u * float(np.log1p(-g))
    return chol, logdet, g


def latent_gls(
    kernel: SpatialKernel, params: FloatArray, lp: LatentPlan, columns: FloatArray
) -> dict[str, Any]:
    """The GLS pieces of ``columns = [y, X]`` (data order) under the latent NNGP:
    ``beta``, ``rss`` (``r' V^{-1} r``), ``logdet`` (of ``V``), ``r`` (upper Cholesky
    factor of ``X' V^{-1} X``) and ``logdet_xtx``."""
    key = ("cols", id(columns))
    hit = lp.cache.get("cols")
    if hit is None or hit[0] != key or hit[1] is not columns:
        ztc = np.asarray(lp.z().T @ columns)
        lp.cache["cols"] = (key, columns, columns.T @ columns, ztc)
    _, _, ctc, ztc = lp.cache["cols"]
    lu, logdet, g = _factor(kernel, params, lp)
    S = lu.solve(ztc)
    G = ctc / g - ztc.T @ S / g**2  # [y X]' V^{-1} [y X]
    G = 0.5 * (G + G.T)
    r = np.linalg.cholesky(G[1:, 1:]).T
    beta = np.linalg.solve(G[1:, 1:], G[1:, 0])
    rss = float(G[0, 0] - G[1:, 0] @ beta)
    logdet += lp.n * float(np.log(g))
    return {
        "beta": beta,
        "rss": rss,
        "logdet": logdet,
        "r": r,
        "logdet_xtx": 2.0 * float(np.sum(np.log(np.diag(r)))),
    }


def posterior(
    kernel: SpatialKernel, params: FloatArray, lp: LatentPlan, columns: FloatArray
) -> tuple[Any, FloatArray]:
    """``(factor of M, M^{-1} Z' columns / g)``: with ``columns = [y - X beta, X]`` the first
    column is the posterior mean of the field at the ordered locations (over nothing:
    in the response's units) and the rest ``(1 - g) R~ Z' V^{-1} X``."""
    lu, _, g = _factor(kernel, params, lp)
    return lu, lu.solve(np.asarray(lp.z().T @ columns)) / g
