"""Kriging: predictions at new locations with their variances, conditional on the
fitted correlation parameters (universal kriging: the fixed effects' uncertainty is
included), from all observations (exact) or from the ``m`` nearest (nearest-neighbour).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.linalg import cho_factor, solve_triangular
from scipy.spatial import cKDTree

from mixedmodels.extending import fixed_matrix

from ._batched import backward_solve, cholesky_packed, forward_solve, packed_index
from ._latent import posterior
from ._neighbours import search_points
from ._structures import STRUCTURES, spatial_residual

FloatArray = NDArray[np.float64]

__all__ = ["krige"]

_CHUNK_DOUBLES = 500_000


def _new_coords(fit: Any, frame: pd.DataFrame) -> FloatArray:
    missing = [c for c in fit.coord_names if c not in frame.columns]
    if missing:
        raise KeyError(f"newdata lacks the coordinate columns {missing}")
    xy = np.column_stack([pd.to_numeric(frame[c], errors="coerce") for c in fit.coord_names])
    xy = np.asarray(xy, dtype=np.float64)
    fit.kernel.check(xy, fit.coord_names)
    return xy


class _CoreGLS:
    """A core ``mm.gls`` fit with one of this plugin's correlations, over all
    observations or within groups (``exp(sx + sy | site)``), seen as a
    :class:`SpatialFit` for kriging."""

    method = "exact"
    m = None

    def __init__(self, fit: Any) -> None:
        from mixedmodels.residual import parse_correlation

        spec_text = getattr(getattr(fit, "model", None), "extras", {}).get("correlation")
        terms = getattr(getattr(fit, "model", None), "terms", [])
        if terms:
            names = ", ".join(
                f"({getattr(t, 'expr', getattr(t, 'group_name', '?'))})" for t in terms
            )
            raise ValueError(
                f"kriging from a core fit with random-effect terms ({names}) is not "
                "supported: the prediction would have to combine their conditional modes "
                "with the correlation's kriging. Fit the field with spatial_lmm (a nugget "
                "for location-level noise), spatial_glmm (its predict) or mm.gls with the "
                "correlation within groups"
            )
        if spec_text is None:
            raise ValueError(
                "kriging needs a spatial_lmm fit or an mm.gls fit with one of "
                "mixedmodels-spatial's correlations (correlation='exp(sx + sy)')"
            )
        spec = parse_correlation(spec_text)
        classes = {cls.name: cls for cls in STRUCTURES}
        if spec.structure not in classes:
            raise ValueError(f"correlation {spec_text!r} is not one of mixedmodels-spatial's")
        cls = classes[spec.structure]
        self.model = fit.model
        self.coord_names = list(spec.time or [])
        rows = fit.model.design.row_index
        self.coords = fit.model.data.loc[rows, self.coord_names].to_numpy(dtype=np.float64)
        self.group_names = _group_columns(spec.group)
        self.groups = (
            _group_keys(fit.model.data.loc[rows], self.group_names) if self.group_names else None
        )
        n = self.coords.shape[0]
        res = spatial_residual(
            cls.name,
            cls.family,
            cls.nu,
            self.coords,
            np.zeros(n, dtype=np.int64),
            self.coord_names,
            dict(spec.options),
        )
        self.kernel = res.kernel
        self.params = np.asarray(fit.theta, dtype=np.float64)[-res.n_params :]
        self.sigma = float(fit.sigma)
        self.fixef = fit.fixef
        self._vcov = fit.vcov

    def vcov(self) -> pd.DataFrame:
        return self._vcov


def _group_columns(expr: Any) -> list[str]:
    """nlme's grouping of a correlation, ``"a"``, ``"a:b"``, ``"a/b"``, ``"a*b"`` or a
    sequence, as column names."""
    if expr is None:
        return []
    if not isinstance(expr, str):
        return [str(e) for e in expr]
    return [p.strip().strip("`") for p in re.split(r"[/:*]", expr) if p.strip()]


def _group_keys(frame: pd.DataFrame, names: list[str]) -> NDArray[np.object_]:
    """One key per row: the group columns' values joined (their interaction)."""
    cols = [frame[c].astype(str).to_numpy() for c in names]
    out = cols[0].astype(object)
    for c in cols[1:]:
        out = out + ":" + c.astype(object)
    return np.asarray(out, dtype=object)


def _grouped(
    fit: Any, groups0: NDArray[np.object_], xy0: FloatArray, r: FloatArray, X0: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Exact kriging within groups: each new row from the observations of its own group
    (none for a group not in the fit: the regression mean and the total variance).
    Groups are padded to the largest and factored at once (``(G, K, K)``)."""
    kernel, params = fit.kernel, fit.params
    X = fit.model.X
    codes, levels = pd.factorize(pd.Series(fit.groups), sort=False)
    G = levels.size
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=G)
    K = int(sizes.max())
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    slot = np.arange(codes.size) - np.repeat(starts, sizes)  # position within its group
    grp = codes[order]
    member = np.full((G, K), -1, dtype=np.int64)
    member[grp, slot] = order
    pad = member < 0
    pts = fit.coords[np.where(pad, 0, member)]  # (G, K, d)
    C = kernel.matrix(params, pts)
    C[pad] = 0.0
    C.transpose(0, 2, 1)[pad] = 0.0
    gi, ki = np.nonzero(pad)
    C[gi, ki, ki] = 1.0
    L = np.linalg.cholesky(C)
    rhs = np.concatenate([r[np.where(pad, 0, member)][..., None], X[np.where(pad, 0, member)]], 2)
    rhs[pad] = 0.0
    LR = _batched_lower_solve(L, rhs)  # (G, K, 1 + p)
    n0 = X0.shape[0]
    krig, quad, U = np.zeros(n0), np.zeros(n0), X0.copy()
    g0 = pd.Index(levels).get_indexer(pd.Index(groups0))
    seen = np.flatnonzero(g0 >= 0)
    size = max(1, _CHUNK_DOUBLES // (K * K))
    for s in range(0, seen.size, size):  # chunks of new rows (memory), not rows
        rows = seen[s : s + size]
        g = g0[rows]
        c0 = kernel.cross(params, xy0[rows, None, :], pts[g])[:, 0, :]  # (c, K)
        c0[pad[g]] = 0.0
        A = _batched_lower_solve(L[g], c0[..., None])[..., 0]  # (c, K)
        krig[rows] = np.einsum("ck,ck->c", A, LR[g, :, 0])
        quad[rows] = np.einsum("ck,ck->c", A, A)
        U[rows] = X0[rows] - np.einsum("ck,ckp->cp", A, LR[g, :, 1:])
    return krig, quad, U


def _batched_lower_solve(L: FloatArray, B: FloatArray) -> FloatArray:
    """``L^{-1} B`` for a stack of lower triangular ``L (c, K, K)``, ``B (c, K, r)``
    (numpy's stacked LU solve: the triangular structure costs nothing extra to lose)."""
    return np.asarray(np.linalg.solve(L, B), dtype=np.float64)


def krige(fit: Any, newdata: Any, method: str | None = None, m: int | None = None) -> pd.DataFrame:
    """Predict a fitted spatial model at new locations.

    With a latent NNGP fit (``method="latent"``) each new location joins the NNGP
    last, its ``m`` nearest fitted locations as neighbours: the prediction is the
    kriging weights times the field's posterior mean there, its variance adds the
    posterior covariance of those field values (one sparse solve per new location) and
    the fixed effects' uncertainty; ``m`` = the number of locations is exact kriging.

    Parameters
    ----------
    fit
        A :class:`~mixedmodels_spatial.SpatialFit`, or an ``mm.gls`` fit whose
        ``correlation`` is one of this plugin's, over all observations or within groups
        (each new row kriged from its own group's observations; a group not in the fit
        gets the regression mean and the total variance).  Core fits with random-effect
        terms are refused.
    newdata
        Data frame with the fixed-effect columns and the coordinates.
    method
        ``"exact"`` (all observations), ``"nngp"`` (the ``m`` nearest) or, for a latent
        NNGP fit, ``"latent"``; the fit's own method by default.
    m
        Neighbours for ``"nngp"`` (the fit's ``m`` by default).

    Returns
    -------
    pandas.DataFrame
        ``fit`` (the kriging predictor), ``variance`` and ``se`` (of a new observation
        there, nugget included), ``field_variance`` (of the noise-free process ``X beta +
        w(s)``), indexed as ``newdata``.
    """
    frame = newdata if isinstance(newdata, pd.DataFrame) else pd.DataFrame(newdata)
    if not hasattr(fit, "kernel"):
        fit = _CoreGLS(fit)
    method = method or fit.method
    if method not in ("exact", "nngp", "latent"):
        raise ValueError(f"method must be 'exact', 'nngp' or 'latent', got {method!r}")
    if method == "latent" and fit.method != "latent":
        raise ValueError("method='latent' kriging needs a spatial_lmm(method='latent') fit")
    X0, offset = fixed_matrix(fit.model, frame)
    xy0 = _new_coords(fit, frame)
    beta = fit.fixef.to_numpy()
    mean0 = X0 @ beta + (0.0 if offset is None else offset)
    X = fit.model.X
    r = fit.model.y - X @ beta
    kernel, params = fit.kernel, fit.params
    nug = kernel.unpack(params)["nugget"]
    if getattr(fit, "groups", None) is not None:
        if method != "exact":
            raise ValueError("kriging within groups is exact only (method='exact')")
        missing = [c for c in fit.group_names if c not in frame.columns]
        if missing:
            raise KeyError(f"newdata lacks the correlation's group columns {missing}")
        krig, quad, U = _grouped(fit, _group_keys(frame, fit.group_names), xy0, r, X0)
    elif method == "exact":
        C = kernel.matrix(params, fit.coords)
        L, _ = cho_factor(C, lower=True)
        L = np.tril(L)
        c = kernel.cross(params, fit.coords, xy0)  # (n, n0)
        A = solve_triangular(L, c, lower=True)
        Lr = solve_triangular(L, r, lower=True)
        LX = solve_triangular(L, X, lower=True)
        krig = A.T @ Lr
        quad = np.sum(A * A, axis=0)
        U = X0 - A.T @ LX
    elif method == "latent":
        lp = fit._problem.lp
        k = int(m if m is not None else fit.m)
        if not 1 <= k <= lp.u:
            raise ValueError(f"m = {k} neighbours: need 1 <= m <= {lp.u} (distinct locations)")
        krig, quad, U = _latent(fit, lp, xy0, np.column_stack([r, X]), X0, k)
    else:
        n = fit.coords.shape[0]
        k = int(m if m is not None else (fit.m or 15))
        if not 1 <= k <= n:
            raise ValueError(f"m = {k} neighbours: need 1 <= m <= n = {n}")
        tree = cKDTree(search_points(fit.coords, kernel.metric))
        _, idx = tree.query(search_points(xy0, kernel.metric), k=k)
        idx = np.asarray(idx, dtype=np.int64).reshape(xy0.shape[0], k)
        krig, quad, U = _nearest(fit, kernel, params, idx, xy0, r, X, X0, k)
    s2 = fit.sigma**2
    fixed_part = np.einsum("ij,jk,ik->i", U, fit.vcov().to_numpy(), U)
    variance = s2 * (1.0 - quad) + fixed_part
    field_variance = s2 * ((1.0 - nug) - quad) + fixed_part
    out = pd.DataFrame(
        {
            "fit": mean0 + krig,
            "variance": variance,
            "se": np.sqrt(np.maximum(variance, 0.0)),
            "field_variance": np.maximum(field_variance, 0.0),
        },
        index=frame.index,
    )
    return out


def _nearest(
    fit: Any,
    kernel: Any,
    params: FloatArray,
    idx: NDArray[np.int64],
    xy0: FloatArray,
    r: FloatArray,
    X: FloatArray,
    X0: FloatArray,
    k: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Kriging from each new point's ``k`` nearest observations, batched."""
    n0, p = X0.shape
    rows, cols = packed_index(k)
    on_diag = rows == cols
    v = kernel.unpack(params)
    krig = np.empty(n0)
    quad = np.empty(n0)
    U = np.empty((n0, p))
    size = max(1, _CHUNK_DOUBLES // (k * k))
    for s in range(0, n0, size):  # chunks of new points (memory), not points
        e = min(n0, s + size)
        nb = idx[s:e]
        pts = fit.coords[nb]  # (c, k, d)
        d = kernel.distance(pts, pts, params)[:, rows, cols].T  # (T, c)
        P = kernel.rho(d, v) * (1.0 - v["nugget"])
        P[on_diag] = 1.0
        L = cholesky_packed(P, k)
        c0 = kernel.cross(params, xy0[s:e, None, :], pts)[:, 0, :]  # (c, k)
        B = np.concatenate([c0.T[:, None, :], r[nb].T[:, None, :], X[nb].transpose(1, 2, 0)], 1)
        Z = forward_solve(L, np.ascontiguousarray(B))  # (k, 2 + p, c)
        a = Z[:, 0]
        krig[s:e] = np.sum(a * Z[:, 1], axis=0)
        quad[s:e] = np.sum(a * a, axis=0)
        U[s:e] = X0[s:e] - np.einsum("kc,kpc->cp", a, Z[:, 2:])
    return krig, quad, U


# Solutions held at once in the latent kriging variance: (locations x new points) doubles.
_SOLVE_DOUBLES = 4_000_000


def _latent(
    fit: Any, lp: Any, xy0: FloatArray, columns: FloatArray, X0: FloatArray, m: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Kriging under the latent NNGP: ``(c0' V^{-1} r, c0' V^{-1} c0, x0 - X' V^{-1} c0)``
    in correlation units, each new point conditioned on its ``m`` nearest locations."""
    kernel, params = fit.kernel, fit.params
    v = kernel.unpack(params)
    g = v["nugget"]
    lu, G = posterior(kernel, params, lp, columns)  # rows: ordered locations
    coords = lp.vp.coords
    tree = cKDTree(search_points(coords, kernel.metric))
    dist, idx = tree.query(search_points(xy0, kernel.metric), k=m)
    idx = np.asarray(idx, dtype=np.int64).reshape(xy0.shape[0], m)
    at_site = np.asarray(dist, dtype=np.float64).reshape(xy0.shape[0], m)[:, 0] == 0.0
    n0 = X0.shape[0]
    k = m + 1
    rows, cols = packed_index(k)
    on_diag = rows == cols
    last = np.flatnonzero((rows == k - 1) & (cols == k - 1))[0]
    b = np.empty((m, n0))
    F0 = np.empty(n0)
    size = max(1, _CHUNK_DOUBLES // (k * k))
    for s in range(0, n0, size):  # chunks of new points (memory), not points
        e = min(n0, s + size)
        pts = np.concatenate([coords[idx[s:e]], xy0[s:e, None, :]], axis=1)  # (c, k, d)
        d = kernel.distance(pts, pts, params)[:, rows, cols].T
        P = kernel.rho(d, v)
        P[on_diag] = 1.0
        # A new point on a fitted location: its field value is that location's.
        P[last, at_site[s:e]] += 1e-10
        L = cholesky_packed(P, k)
        b[:, s:e] = backward_solve(L[:m, :m], L[-1, :m][:, None, :])[:, 0]
        F0[s:e] = L[-1, -1] ** 2
    krig = np.einsum("ic,ci->c", b, G[idx, 0])
    U = X0 - np.einsum("ic,cip->cp", b, G[idx, 1:])
    post = np.empty(n0)  # b0' M^{-1} b0: cov(w_N | y) / sigma^2 along b0
    size = max(1, _SOLVE_DOUBLES // lp.u)
    for s in range(0, n0, size):  # chunks of new points: one sparse solve each
        e = min(n0, s + size)
        rhs = np.zeros((lp.u, e - s))
        rhs[idx[s:e].T, np.arange(e - s)] = b[:, s:e]
        sol = lu.solve(rhs)
        post[s:e] = np.einsum("ic,ic->c", b[:, s:e], sol[idx[s:e].T, np.arange(e - s)])
    quad = (1.0 - g) - ((1.0 - g) * F0 + post)
    return krig, quad, U
