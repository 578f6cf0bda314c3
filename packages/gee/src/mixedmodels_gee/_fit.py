"""Fitting the generalized estimating equations (Liang & Zeger 1986) as geepack does.

The estimating equations for ``beta`` are

    sum_i D_i' V_i^-1 (y_i - mu_i) = 0,   V_i = phi A_i^1/2 W_i^-1/2 R_i(alpha) W_i^-1/2 A_i^1/2,

with ``D_i = d mu_i / d beta``, ``A_i`` the variance function, ``W_i`` the prior weights
and ``R_i`` the working correlation.  As in geepack (``gee_est``), each iteration takes
one Fisher-scoring step in ``beta``, then sets the scale to the weighted mean of the
squared Pearson residuals and solves the moment equations of the correlation
parameters (see :mod:`._correlation`); the fixed point is geepack's solution.

Layout.  Everything per cluster is batched.  Clusters with the same number of rows and
the same working correlation (the same *pattern* of pair classes: for balanced data,
one pattern per cluster size) form a :class:`Block`, stored *position-major*: row
``i`` of every cluster of the block, then row ``i + 1``, ...  A block of ``K`` clusters
of ``m`` rows is then an ``(m, K, ...)`` array, and applying the inverse Cholesky factor
of the block's working correlation to all its clusters is one ``(m, m) @ (m, K p)``
matrix product.  Sizes with many distinct patterns (irregular times) stay one block,
with a batched product over per-cluster factors.  The only Python loops are over
blocks, never over clusters or rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from mixedmodels import ConvergenceWarning, ModelSpecificationError
from mixedmodels.interfaces import Family, FloatArray, Link

from ._clusters import ClusterLayout, pair_indices
from ._correlation import AR1, Exchangeable, MDependent, Unstructured, WorkingCorrelation

__all__ = [
    "MOMENTS",
    "Block",
    "GEEConvergenceWarning",
    "GEEError",
    "GEEFit",
    "GEEMomentSums",
    "Workspace",
    "fit_gee",
    "gee_moment_sums",
    "gee_moments",
    "gee_moments_from_sums",
]

#: The moment estimators of the scale and the working correlation: geepack's (the
#: default) or R's gee's.
MOMENTS = ("geepack", "gee")

IntArray = NDArray[np.int64]

#: A cluster size with more distinct correlation patterns than this stays one block.
MAX_PATTERN_BLOCKS = 32


class GEEError(ModelSpecificationError):
    """The GEE fit cannot proceed (e.g. a working correlation that is not positive definite)."""


class GEEConvergenceWarning(ConvergenceWarning):
    """The GEE iterations stopped before converging."""


@dataclass
class Block:
    """Clusters of ``size`` rows, stored position-major in rows ``start:stop``.

    Attributes
    ----------
    size
        Rows per cluster, ``m``.
    start, stop
        Rows of the workspace; row ``start + i * K + k`` is row ``i`` of cluster ``k``.
    clusters
        ``(K,)`` cluster indices (into the layout's labels).
    j, k
        ``(n_pairs,)`` positions of the pairs of rows within a cluster, ``j < k``.
    patterns
        ``(P, n_pairs)`` pair classes of each distinct working correlation (``-1``: an
        uncorrelated pair); ``P == 0`` when the correlation is the identity.
    pattern_of
        ``(K,)`` pattern of each cluster.
    """

    size: int
    start: int
    stop: int
    clusters: IntArray
    j: IntArray
    k: IntArray
    patterns: IntArray
    pattern_of: IntArray

    @property
    def n_clusters(self) -> int:
        return int(self.clusters.shape[0])

    @property
    def identity(self) -> bool:
        """Whether every cluster of the block has the identity working correlation."""
        return self.patterns.shape[0] == 0

    @property
    def single(self) -> bool:
        """Whether all clusters of the block share one working correlation."""
        return self.patterns.shape[0] == 1

    def view(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """The block's rows of ``values`` as ``(m, K, ...)``."""
        part = values[self.start : self.stop]
        return part.reshape((self.size, self.n_clusters, *part.shape[1:]))

    def classes(self) -> IntArray:
        """``(K, n_pairs)`` pair classes of every cluster."""
        return self.patterns[self.pattern_of]


@dataclass
class Workspace:
    """The data in block order, with the pair classes of the working correlation.

    Attributes
    ----------
    order
        ``(n,)`` workspace row ``r`` holds used row ``order[r]``.
    class_keys
        The structure's key of each pair class (lags, pairs of times, ...).
    class_param
        The parameter each class belongs to (``-1``: none).
    """

    X: FloatArray
    y: FloatArray
    w: FloatArray
    offset: FloatArray
    order: IntArray
    layout: ClusterLayout
    corr: WorkingCorrelation
    class_keys: FloatArray
    class_param: IntArray
    blocks: list[Block]

    @property
    def cluster_order(self) -> IntArray:
        """Cluster indices in block order (the order of per-cluster arrays)."""
        return np.concatenate([b.clusters for b in self.blocks]).astype(np.int64)


def _unique_rows(a: NDArray[Any]) -> tuple[NDArray[Any], IntArray]:
    """Distinct rows and the index of each row's distinct row (fast when all equal)."""
    if a.shape[0] == 0 or bool(np.all(a == a[:1])):
        return a[:1], np.zeros(a.shape[0], dtype=np.int64)
    rows, inverse = np.unique(a, axis=0, return_inverse=True)
    return rows, np.asarray(inverse, dtype=np.int64).reshape(-1)


def build_workspace(
    X: FloatArray,
    y: FloatArray,
    w: FloatArray,
    offset: FloatArray,
    layout: ClusterLayout,
    corr: WorkingCorrelation,
    bind: bool = True,
) -> Workspace:
    """Arrange the data in blocks and classify every within-cluster pair of rows.

    ``bind=False`` keeps what ``corr`` learnt from other data (the time points of all
    chunks of a data set held in chunks): then ``layout.time_values`` must be those
    time points too.
    """
    if bind:
        corr.bind(layout)
    correlated = not corr.is_independence
    # Pair keys depend only on a cluster's times: compute them per distinct time vector.
    per_group: list[tuple[IntArray, IntArray, FloatArray, IntArray] | None] = []
    all_keys: list[FloatArray] = []
    for g in layout.groups:
        if g.size < 2 or not correlated:
            per_group.append(None)
            continue
        times, t_of = _unique_rows(g.times)
        waves = np.searchsorted(layout.time_values, times).astype(np.int64)
        j, k = pair_indices(g.size)
        keys = corr.pair_keys(times[:, j], times[:, k], waves[:, j], waves[:, k])
        per_group.append((j, k, keys, t_of))
        all_keys.append(keys[np.isfinite(keys)])
    class_keys = np.unique(np.concatenate(all_keys)) if all_keys else np.empty(0)

    blocks: list[Block] = []
    rows: list[IntArray] = []
    start = 0
    empty = np.empty(0, dtype=np.int64)
    for g, item in zip(layout.groups, per_group, strict=True):
        local = np.arange(g.n_clusters)
        if item is None:
            parts = [(local, np.empty((0, 0), dtype=np.int64), np.zeros(g.n_clusters, np.int64))]
            j = k = empty
        else:
            j, k, keys, t_of = item
            finite = np.isfinite(keys)
            cls = np.where(finite, np.searchsorted(class_keys, np.where(finite, keys, 0.0)), -1)
            patterns, p_of_t = _unique_rows(cls.astype(np.int64))
            pattern_of = p_of_t[t_of]
            if patterns.shape[0] == 1 or patterns.shape[0] > MAX_PATTERN_BLOCKS:
                parts = [(local, patterns, pattern_of)]
            else:
                # A few patterns (e.g. a few gap patterns): one single-pattern block each.
                by = np.argsort(pattern_of, kind="stable")
                cuts = np.searchsorted(pattern_of[by], np.arange(1, patterns.shape[0]))
                parts = [
                    (sel, patterns[p : p + 1], np.zeros(sel.shape[0], np.int64))
                    for p, sel in enumerate(np.split(by, cuts))
                    if sel.size
                ]
        for sel, pats, p_of in parts:
            K = sel.shape[0]
            m = g.size
            # Position-major: row i of every cluster, then row i + 1.
            layout_rows = g.start + (sel[None, :] * m + np.arange(m)[:, None]).reshape(-1)
            rows.append(layout_rows)
            blocks.append(
                Block(
                    size=m,
                    start=start,
                    stop=start + K * m,
                    clusters=g.clusters[sel],
                    j=j,
                    k=k,
                    patterns=np.asarray(pats, dtype=np.int64),
                    pattern_of=np.asarray(p_of, dtype=np.int64),
                )
            )
            start += K * m
    order = layout.order[np.concatenate(rows)] if rows else layout.order
    return Workspace(
        X=np.ascontiguousarray(X[order]),
        y=y[order],
        w=w[order],
        offset=offset[order],
        order=order,
        layout=layout,
        corr=corr,
        class_keys=class_keys,
        class_param=corr.class_params(class_keys),
        blocks=blocks,
    )


# ------------------------------------------------------------------ working correlation


def correlation_factors(ws: Workspace, alpha: FloatArray) -> list[FloatArray | None]:
    """Per block, the inverse Cholesky factors ``L^-1`` ``(P, m, m)`` of its patterns.

    ``None`` for blocks with the identity working correlation.

    Raises
    ------
    GEEError
        If a working correlation is not positive definite.
    """
    rho_class = ws.corr.rho(alpha, ws.class_keys) if ws.class_keys.size else np.empty(0)
    out: list[FloatArray | None] = []
    for b in ws.blocks:
        if b.identity:
            out.append(None)
            continue
        m = b.size
        rho = np.where(b.patterns >= 0, rho_class[np.maximum(b.patterns, 0)], 0.0)
        R = np.broadcast_to(np.eye(m), (rho.shape[0], m, m)).copy()
        R[:, b.j, b.k] = rho
        R[:, b.k, b.j] = rho
        try:
            L = np.linalg.cholesky(R)
        except np.linalg.LinAlgError:
            smallest = float(np.linalg.eigvalsh(R)[:, 0].min())
            raise GEEError(
                f"the {ws.corr.describe()} working correlation is not positive definite for "
                f"clusters of size {m} at alpha = "
                f"{np.array2string(np.asarray(alpha), precision=4)} (smallest eigenvalue "
                f"{smallest:.3g}): the data are more correlated than the structure allows; "
                "try another correlation structure"
            ) from None
        out.append(np.linalg.solve(L, np.broadcast_to(np.eye(m), L.shape)))
    return out


def whiten(b: Block, Linv: FloatArray | None, A: FloatArray) -> FloatArray:
    """``L_k^-1 A_k`` for every cluster ``k`` of a block; ``A`` is ``(m, K, ...)``."""
    if Linv is None:
        return A
    m, K = A.shape[0], A.shape[1]
    if Linv.shape[0] == 1:
        # One working correlation for the block: a single matrix product.
        return np.asarray((Linv[0] @ A.reshape(m, -1)).reshape(A.shape), dtype=np.float64)
    mats = Linv[b.pattern_of]  # (K, m, m)
    if A.ndim == 2:
        return np.asarray(np.einsum("kij,jk->ik", mats, A), dtype=np.float64)
    flat = A.reshape(m, K, -1)
    out = np.einsum("kij,jkp->ikp", mats, flat)
    return np.asarray(out.reshape(A.shape), dtype=np.float64)


# ---------------------------------------------------------------------- the fitting loop


@dataclass
class GEEFit:
    """The converged state of a GEE fit (arrays in workspace order)."""

    beta: FloatArray
    alpha: FloatArray
    scale: float
    scale_fixed: bool
    converged: bool
    n_iter: int
    ws: Workspace
    eta: FloatArray
    mu: FloatArray
    mu_eta: FloatArray
    var: FloatArray
    factors: list[FloatArray | None] = field(repr=False)


@dataclass
class _Rows:
    """Per-row quantities at one ``beta``."""

    eta: FloatArray
    mu: FloatArray
    mu_eta: FloatArray
    var: FloatArray
    valid: bool

    def pearson(self, y: FloatArray) -> FloatArray:
        return np.asarray((y - self.mu) / np.sqrt(self.var), dtype=np.float64)


def _rows(ws: Workspace, beta: FloatArray, family: Family, link: Link) -> _Rows:
    eta = ws.X @ beta + ws.offset
    with np.errstate(all="ignore"):
        valid = bool(np.all(link.valid_eta(eta)))
        mu = link.inverse(eta)
        valid = valid and bool(np.all(family.valid_mu(mu)))
        mu_eta = link.mu_eta(eta)
        var = family.variance(mu)
        valid = valid and bool(np.all(var > 0) and np.all(np.isfinite(var)))
    return _Rows(eta, mu, mu_eta, var, valid)


def _score(
    ws: Workspace, factors: list[FloatArray | None], rows: _Rows
) -> tuple[FloatArray, FloatArray]:
    """``sum D'V^-1 D`` and ``sum D'V^-1 (y - mu)`` without the scale."""
    s = np.sqrt(ws.w / rows.var)
    D = ws.X * (s * rows.mu_eta)[:, None]
    r = s * (ws.y - rows.mu)
    p = ws.X.shape[1]
    H = np.zeros((p, p))
    G = np.zeros(p)
    for b, Linv in zip(ws.blocks, factors, strict=True):
        Dw = whiten(b, Linv, b.view(D)).reshape(-1, p)
        rw = whiten(b, Linv, b.view(r)).reshape(-1)
        H += Dw.T @ Dw
        G += Dw.T @ rw
    return H, G


def class_sums(ws: Workspace, values: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per pair class: ``sum v_j v_k`` and ``sum w_j w_k`` over the pairs of the class."""
    G = ws.class_keys.shape[0]
    S = np.zeros(G)
    N = np.zeros(G)
    for b in ws.blocks:
        if b.identity:
            continue
        V = b.view(values)
        Wv = b.view(w)
        if b.single:
            # Sums over the block's clusters of v_j v_k are a Gram matrix.
            cls = b.patterns[0]
            ok = cls >= 0
            S += np.bincount(cls[ok], weights=(V @ V.T)[b.j, b.k][ok], minlength=G)
            N += np.bincount(cls[ok], weights=(Wv @ Wv.T)[b.j, b.k][ok], minlength=G)
        else:
            cls = b.classes().T  # (n_pairs, K)
            ok = cls >= 0
            S += np.bincount(cls[ok], weights=(V[b.j] * V[b.k])[ok], minlength=G)
            N += np.bincount(cls[ok], weights=(Wv[b.j] * Wv[b.k])[ok], minlength=G)
    return S, N


def _solve(H: FloatArray, G: FloatArray) -> FloatArray:
    try:
        return np.asarray(sla.solve(H, G, assume_a="pos"), dtype=np.float64)
    except (np.linalg.LinAlgError, sla.LinAlgError, ValueError):
        return np.asarray(np.linalg.lstsq(H, G, rcond=None)[0], dtype=np.float64)


def _glm_start(ws: Workspace, family: Family, link: Link) -> FloatArray:
    """One weighted least-squares step from the family's starting means (R's glm.fit)."""
    mu = family.starting_mu(ws.y, ws.w)
    eta = link.link(mu)
    mu_eta = link.mu_eta(eta)
    var = family.variance(mu)
    z = eta - ws.offset + (ws.y - mu) / mu_eta
    wt = ws.w * mu_eta**2 / var
    Xw = ws.X * wt[:, None]
    return _solve(Xw.T @ ws.X, Xw.T @ z)


def _beta_step(
    ws: Workspace,
    family: Family,
    link: Link,
    beta: FloatArray,
    rows: _Rows,
    factors: list[FloatArray | None],
) -> tuple[FloatArray, _Rows, float, float]:
    """One Fisher-scoring step in ``beta`` (halved while it leaves the valid range).

    Returns the new ``beta`` and its rows, the largest change relative to
    ``1 + |beta|`` and the largest absolute change.
    """
    H, G = _score(ws, factors, rows)
    delta = _solve(H, G)
    step = 1.0
    for _half in range(40):
        new = beta + step * delta
        new_rows = _rows(ws, new, family, link)
        if new_rows.valid:
            d = np.abs(step * delta)
            change = float(np.max(d / (1.0 + np.abs(new)), initial=0.0))
            return new, new_rows, change, float(np.max(d, initial=0.0))
        step *= 0.5
    raise GEEError(
        "no step keeps the linear predictor in the link's domain and the means in the "
        "family's range; check the model or give start values"
    )


def gee_moments(ws: Workspace, pr: FloatArray, n_coef: int) -> tuple[float, FloatArray]:
    """R's ``gee::gee`` moment estimators of the scale and the working correlation
    (V. Carey's ``ugee.c``, as ``gee`` runs it, ``v4.4compat = FALSE``).

    With Pearson residuals ``e`` (not divided by the scale), ``N`` rows, ``p``
    coefficients and ``K`` clusters (``K'`` of them with two rows or more):

    - scale ``phi = sum e^2 / (N - p)``;
    - exchangeable: ``alpha = sum_pairs e_j e_k / (phi (n_pairs - p))``;
    - ar1 and m-dependent (gee's ``"AR-M"`` with ``Mv = 1``, ``"stat_M_dep"``): the
      lag-``u`` correlation ``K / (K' sum_i e_i'e_i / n_i) sum_i sum_j e_ij e_i,j+u /
      (n_i - u)``, lags by position within the cluster (the ``time`` order);
    - unstructured: ``K / (K' sum_i e_i'e_i / n_i) sum_i e_ij e_ik`` for each pair of
      times ``(j, k)``.

    geepack's estimators instead divide by ``N`` and by the pair weights, without the
    ``- p`` corrections.
    """
    corr = ws.corr
    n = pr.shape[0]
    lags = corr.m if isinstance(corr, MDependent) else 1
    sums = gee_moment_sums(ws, pr, lags)
    S = np.empty(0)
    if ws.class_keys.size and not corr.is_independence and corr.n_params:
        S, _ = class_sums(ws, pr, np.ones(n))
    return gee_moments_from_sums(corr, sums, ws.class_keys, S, n_coef)


@dataclass
class GEEMomentSums:
    """Sums over clusters behind :func:`gee_moments` (those of chunks of clusters add).

    ``lag_sums[u - 1]`` is ``sum_i sum_j e_ij e_i,j+u / (n_i - u)``; ``phi_sum`` is
    ``sum_i e_i'e_i / n_i``.
    """

    n_obs: int
    ee: float
    n_clusters: int
    n_multi: int
    n_pairs: float
    min_size: int
    phi_sum: float
    lag_sums: FloatArray

    def __add__(self, other: GEEMomentSums) -> GEEMomentSums:
        return GEEMomentSums(
            self.n_obs + other.n_obs,
            self.ee + other.ee,
            self.n_clusters + other.n_clusters,
            self.n_multi + other.n_multi,
            self.n_pairs + other.n_pairs,
            min(self.min_size, other.min_size),
            self.phi_sum + other.phi_sum,
            self.lag_sums + other.lag_sums,
        )


def gee_moment_sums(ws: Workspace, pr: FloatArray, lags: int) -> GEEMomentSums:
    """The sums of :class:`GEEMomentSums` over the clusters of ``ws`` (Pearson residuals
    ``pr`` in workspace order; lags ``1..lags``)."""
    layout = ws.layout
    n = pr.shape[0]
    used = np.empty(n)
    used[ws.order] = pr
    e = used[layout.order]  # by cluster, in time order within each
    sizes = layout.sizes
    blocks = [(g.size, g.block(e)) for g in layout.groups]
    lag_sums = np.array(
        [
            sum(float(np.sum(B[:, u:] * B[:, :-u])) / (m - u) for m, B in blocks if m > u)
            for u in range(1, lags + 1)
        ],
        dtype=np.float64,
    )
    return GEEMomentSums(
        n_obs=n,
        ee=float(np.sum(pr * pr)),
        n_clusters=int(sizes.size),
        n_multi=int(np.sum(sizes > 1)),
        n_pairs=float(np.sum(sizes * (sizes - 1)) / 2.0),
        min_size=int(sizes.min()) if sizes.size else np.iinfo(np.int64).max,
        phi_sum=sum(float(np.sum(B * B)) / m for m, B in blocks),
        lag_sums=lag_sums,
    )


def gee_moments_from_sums(
    corr: WorkingCorrelation,
    sums: GEEMomentSums,
    class_keys: FloatArray,
    S: FloatArray,
    n_coef: int,
) -> tuple[float, FloatArray]:
    """:func:`gee_moments` from the sums of all clusters (and the per-class sums ``S``
    of ``e_j e_k`` over the classes ``class_keys``)."""
    scale = float(sums.ee / (sums.n_obs - n_coef))
    if corr.is_independence or corr.n_params == 0:
        return scale, np.zeros(corr.n_params)
    if isinstance(corr, Exchangeable):
        return scale, np.array([float(np.sum(S)) / (scale * (sums.n_pairs - n_coef))])
    factor = float(sums.n_clusters) / (float(sums.n_multi) * sums.phi_sum)
    if isinstance(corr, AR1 | MDependent):
        lags = 1 if isinstance(corr, AR1) else corr.m
        if sums.min_size <= lags:
            raise GEEError(
                f"moments='gee' with {corr.describe()} needs clusters of more than {lags} "
                f"row(s) (gee::gee stops too); the smallest cluster has {sums.min_size}"
            )
        return scale, np.asarray(factor * sums.lag_sums[:lags], dtype=np.float64)
    if isinstance(corr, Unstructured):
        c = corr.class_params(class_keys)
        ok = c >= 0
        num = np.bincount(c[ok], weights=S[ok], minlength=corr.n_params)
        return scale, np.asarray(factor * num, dtype=np.float64)
    raise GEEError(
        f"moments='gee' is for the independence, exchangeable, ar1, m-dependent and "
        f"unstructured working correlations (gee::gee's), not {corr.describe()!r}"
    )


def fit_gee(
    ws: Workspace,
    family: Family,
    link: Link,
    scale_fix: float | None = None,
    start: FloatArray | None = None,
    tol: float | None = None,
    maxiter: int | None = None,
    algorithm: str = "converge",
    moments: str = "geepack",
) -> GEEFit:
    """Solve the estimating equations.

    Parameters
    ----------
    ws
        The data in blocks, with the pair classes.
    family, link
        Mean and variance model.
    scale_fix
        Fixed scale, or ``None`` to estimate it.
    start
        Starting ``beta`` (default: the GLM fit, as geepack).
    tol
        Convergence tolerance.  ``"converge"``: the largest change of ``beta`` relative
        to ``1 + |beta|``, of ``alpha``, and of the scale relative to itself (default
        ``1e-10``).  ``"geepack"``: geepack's ``epsilon``, the largest absolute change
        of any parameter (default ``1e-4``).
    maxiter
        Iteration limit (default 100; geepack's 25 with ``"geepack"``).
    algorithm
        ``"converge"`` (default) iterates to the fixed point; ``"geepack"`` takes
        exactly geepack's steps (one Fisher step per parameter block and iteration,
        geepack's starting scale, its stopping rule), to reproduce geepack's numbers
        to the last digits where its default tolerance stops short of the solution.
    moments
        ``"geepack"`` (default): geepack's estimators of the scale and the working
        correlation; ``"gee"``: R's ``gee::gee``'s (:func:`gee_moments`), with the
        default algorithm, no prior weights.

    Returns
    -------
    GEEFit
    """
    if algorithm not in ("converge", "geepack"):
        raise ValueError(f"algorithm must be 'converge' or 'geepack', got {algorithm!r}")
    if moments not in MOMENTS:
        raise ValueError(f"moments must be 'geepack' or 'gee', got {moments!r}")
    gee_like = moments == "gee"
    emulate = algorithm == "geepack"
    if gee_like and emulate:
        raise ValueError(
            "moments='gee' needs the default algorithm='converge' (algorithm='geepack' "
            "takes geepack's own steps)"
        )
    if gee_like and not np.all(ws.w == 1.0):
        raise ValueError(
            "moments='gee' takes no prior weights (gee::gee has none; a cbind() binomial "
            "response is weighted by its trials): use the default moments='geepack'"
        )
    n_coef = int(ws.X.shape[1])
    if tol is None:
        tol = 1e-4 if emulate else 1e-10
    if maxiter is None:
        maxiter = 25 if emulate else 100
    corr = ws.corr
    has_alpha = not corr.is_independence and ws.class_keys.size > 0
    sum_w = float(np.sum(ws.w))
    identity: list[FloatArray | None] = [None] * len(ws.blocks)
    n_iter = 0
    glm_ok = False
    beta = _glm_start(ws, family, link) if start is None else np.asarray(start, float).copy()
    rows = _rows(ws, beta, family, link)
    if not rows.valid:
        raise GEEError("the starting values give means outside the family's range")
    if start is None:
        # The GLM fit (independence GEE) is geepack's start for every structure; it is
        # the answer for independence, and only a start otherwise (unless emulating).
        glm_tol = 1e-12 if corr.is_independence or emulate else 1e-6
        for _ in range(max(maxiter, 100)):
            n_iter += 1
            beta, rows, change, _ = _beta_step(ws, family, link, beta, rows, identity)
            if change <= glm_tol:
                glm_ok = True
                break
    alpha = corr.start()
    pr = rows.pearson(ws.y)
    if gee_like:
        gee_scale, gee_alpha = gee_moments(ws, pr, n_coef)
        scale = gee_scale if scale_fix is None else float(scale_fix)
        if has_alpha:
            alpha = gee_alpha
    elif scale_fix is not None:
        scale = float(scale_fix)
    elif emulate:
        scale = float(np.mean(ws.w * pr * pr))  # geepack: lm.fit of the squared GLM residuals
    else:
        scale = float(np.sum(ws.w * pr * pr) / sum_w)
    if has_alpha and not emulate and not gee_like:
        S, N = class_sums(ws, ws.w * pr, ws.w)
        alpha = corr.estimate(ws.class_keys, S / scale, N, alpha)
    converged = corr.is_independence and not emulate and glm_ok
    factors = identity
    if not converged:
        for _ in range(maxiter):
            n_iter += 1
            factors = correlation_factors(ws, alpha) if has_alpha else identity
            beta, rows, change, abs_change = _beta_step(ws, family, link, beta, rows, factors)
            if emulate:
                change = abs_change
            pr = rows.pearson(ws.y)
            if gee_like:
                gee_scale, gee_alpha = gee_moments(ws, pr, n_coef)
            if scale_fix is None:
                new_scale = gee_scale if gee_like else float(np.sum(ws.w * pr * pr) / sum_w)
                change = max(
                    change,
                    abs(new_scale - scale) / (1.0 if emulate else max(new_scale, 1e-300)),
                )
                scale = new_scale
            if has_alpha:
                if gee_like:
                    new_alpha = gee_alpha
                else:
                    S, N = class_sums(ws, ws.w * pr, ws.w)
                    update = corr.fisher_step if emulate else corr.estimate
                    new_alpha = update(ws.class_keys, S / scale, N, alpha)
                change = max(change, float(np.max(np.abs(new_alpha - alpha), initial=0.0)))
                alpha = new_alpha
            if change <= tol:
                converged = True
                break
    if not converged:
        warnings.warn(
            f"GEE did not converge in {maxiter} iterations; estimates may be inaccurate",
            GEEConvergenceWarning,
            stacklevel=3,
        )
    if not np.all(np.isfinite(beta)):
        raise GEEError("the GEE iterations diverged (non-finite coefficients)")
    if not has_alpha and corr.n_params:
        alpha = np.full(corr.n_params, np.nan)  # no pairs: nothing to estimate from
    factors = correlation_factors(ws, alpha) if has_alpha else identity
    return GEEFit(
        beta=beta,
        alpha=np.asarray(alpha, dtype=np.float64),
        scale=scale,
        scale_fixed=scale_fix is not None,
        converged=converged,
        n_iter=n_iter,
        ws=ws,
        eta=rows.eta,
        mu=rows.mu,
        mu_eta=rows.mu_eta,
        var=rows.var,
        factors=factors,
    )
