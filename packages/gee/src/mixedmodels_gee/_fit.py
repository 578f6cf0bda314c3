"""Fitting the generalized estimating equations (Liang & Zeger 1986) as geepack does.

The estimating equations for ``beta`` are

    sum_i D_i' V_i^-1 (y_i - mu_i) = 0,   V_i = phi A_i^1/2 W_i^-1/2 R_i(alpha) W_i^-1/2 A_i^1/2,

with ``D_i = d mu_i / d beta``, ``A_i`` the variance function, ``W_i`` the prior weights
and ``R_i`` the working correlation.  As in geepack (``gee_est``), each iteration takes
one Fisher-scoring step in ``beta``, then sets the scale to the weighted mean of the
squared Pearson residuals and solves the moment equations of the correlation
parameters (see :mod:`._correlation`); the fixed point is geepack's solution.

Everything per cluster is batched: rows are sorted so that the clusters of one size
form a ``(K_m, m, ...)`` block (:mod:`._clusters`), and the working correlation is
factored once per distinct *pattern* of pair classes (one pattern per cluster size for
balanced data), then applied to all clusters of the pattern with one matrix product.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from mixedmodels.interfaces import Family, FloatArray, Link

from ._clusters import ClusterLayout, SizeGroup, pair_indices
from ._correlation import WorkingCorrelation

__all__ = ["GEEConvergenceWarning", "GEEError", "GEEFit", "fit_gee"]

IntArray = NDArray[np.int64]


class GEEError(ValueError):
    """The GEE fit cannot proceed (e.g. a working correlation that is not positive definite)."""


class GEEConvergenceWarning(UserWarning):
    """The GEE iterations stopped before converging."""


@dataclass
class PairBlock:
    """Pairs of rows within the clusters of one size group.

    Attributes
    ----------
    j, k
        ``(n_pairs,)`` row positions (within the cluster) of each pair, ``j < k``.
    classes
        ``(K_m, n_pairs)`` global pair-class index of each pair (``-1``: none).
    patterns
        ``(P, n_pairs)`` distinct rows of :attr:`classes`.
    pattern_of
        ``(K_m,)`` pattern index of each cluster.
    """

    j: IntArray
    k: IntArray
    classes: IntArray
    patterns: IntArray
    pattern_of: IntArray


@dataclass
class Workspace:
    """The data in sorted order, with the pair classes of the working correlation."""

    X: FloatArray
    y: FloatArray
    w: FloatArray
    offset: FloatArray
    layout: ClusterLayout
    corr: WorkingCorrelation
    class_keys: FloatArray
    class_param: IntArray
    pairs: list[PairBlock | None]

    @property
    def groups(self) -> list[SizeGroup]:
        return self.layout.groups


def build_workspace(
    X: FloatArray,
    y: FloatArray,
    w: FloatArray,
    offset: FloatArray,
    layout: ClusterLayout,
    corr: WorkingCorrelation,
) -> Workspace:
    """Sort the data by cluster and classify every within-cluster pair."""
    order = layout.order
    corr.bind(layout)
    raw: list[tuple[IntArray, IntArray, FloatArray] | None] = []
    all_keys: list[FloatArray] = []
    for g in layout.groups:
        if g.size < 2 or corr.is_independence:
            raw.append(None)
            continue
        j, k = pair_indices(g.size)
        keys = corr.pair_keys(g.times[:, j], g.times[:, k], g.waves[:, j], g.waves[:, k])
        raw.append((j, k, keys))
        all_keys.append(keys[np.isfinite(keys)])
    class_keys = np.unique(np.concatenate(all_keys)) if all_keys else np.empty(0)
    pairs: list[PairBlock | None] = []
    for item in raw:
        if item is None:
            pairs.append(None)
            continue
        j, k, keys = item
        finite = np.isfinite(keys)
        classes = np.where(
            finite, np.searchsorted(class_keys, np.where(finite, keys, 0.0)), -1
        ).astype(np.int64)
        patterns, pattern_of = np.unique(classes, axis=0, return_inverse=True)
        pairs.append(
            PairBlock(j, k, classes, patterns.astype(np.int64), pattern_of.reshape(-1))
        )
    return Workspace(
        X=np.ascontiguousarray(X[order]),
        y=y[order],
        w=w[order],
        offset=offset[order],
        layout=layout,
        corr=corr,
        class_keys=class_keys,
        class_param=corr.class_params(class_keys),
        pairs=pairs,
    )


# ------------------------------------------------------------------ working correlation


def correlation_factors(
    ws: Workspace, alpha: FloatArray
) -> list[FloatArray | None]:
    """Per size group, the inverse Cholesky factors ``L^-1`` of each pattern's ``R``.

    Returns ``None`` for groups with an identity working correlation.

    Raises
    ------
    GEEError
        If a working correlation is not positive definite.
    """
    rho_class = ws.corr.rho(alpha, ws.class_keys) if ws.class_keys.size else np.empty(0)
    out: list[FloatArray | None] = []
    for g, pb in zip(ws.groups, ws.pairs, strict=True):
        if pb is None:
            out.append(None)
            continue
        m = g.size
        rho = np.where(pb.patterns >= 0, rho_class[np.maximum(pb.patterns, 0)], 0.0)
        R = np.broadcast_to(np.eye(m), (rho.shape[0], m, m)).copy()
        R[:, pb.j, pb.k] = rho
        R[:, pb.k, pb.j] = rho
        try:
            L = np.linalg.cholesky(R)
        except np.linalg.LinAlgError:
            bad = _first_not_pd(R)
            raise GEEError(
                f"the {ws.corr.describe()} working correlation is not positive definite for "
                f"clusters of size {m} at alpha = {np.array2string(np.asarray(alpha), precision=4)}"
                f" (smallest eigenvalue {bad:.3g}); try another correlation structure"
            ) from None
        eye = np.broadcast_to(np.eye(m), L.shape)
        out.append(np.linalg.solve(L, eye))
    return out


def _first_not_pd(R: FloatArray) -> float:
    eig = np.linalg.eigvalsh(R)
    return float(eig[:, 0].min())


def whiten(g: SizeGroup, pb: PairBlock | None, Linv: FloatArray | None, A: FloatArray) -> FloatArray:
    """``L_i^-1 A_i`` for every cluster of a size group; ``A`` is ``(K_m, m, ...)``."""
    if Linv is None or pb is None:
        return A
    if Linv.shape[0] == 1:
        # One pattern: a single matrix product over all clusters of this size.
        moved = np.moveaxis(A, 1, -1)  # (K, ..., m)
        return np.moveaxis(moved @ Linv[0].T, -1, 1)
    mats = Linv[pb.pattern_of]
    if A.ndim == 2:
        return np.einsum("kij,kj->ki", mats, A)
    return np.matmul(mats, A)


# ---------------------------------------------------------------------- the fitting loop


@dataclass
class RowState:
    """Per-row quantities at the current ``beta`` (sorted order)."""

    eta: FloatArray
    mu: FloatArray
    mu_eta: FloatArray
    var: FloatArray

    @property
    def pearson(self) -> FloatArray:
        """Unweighted Pearson residuals ``(y - mu) / sqrt(V(mu))`` need ``y``; see fit."""
        raise NotImplementedError


@dataclass
class GEEFit:
    """The converged state of a GEE fit (arrays in sorted order)."""

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


def _row_state(
    ws: Workspace, beta: FloatArray, family: Family, link: Link
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, bool]:
    eta = ws.X @ beta + ws.offset
    valid = bool(np.all(link.valid_eta(eta)))
    with np.errstate(all="ignore"):
        mu = link.inverse(eta)
        valid = valid and bool(np.all(family.valid_mu(mu)))
        mu_eta = link.mu_eta(eta)
        var = family.variance(mu)
    valid = valid and bool(np.all(np.isfinite(var) & (var > 0)))
    return eta, mu, mu_eta, var, valid


def _score(
    ws: Workspace,
    factors: list[FloatArray | None],
    mu_eta: FloatArray,
    var: FloatArray,
    resid: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """``sum D'V^-1 D`` and ``sum D'V^-1 (y - mu)`` without the scale."""
    s = np.sqrt(ws.w / var)
    D = ws.X * (s * mu_eta)[:, None]
    r = s * resid
    p = ws.X.shape[1]
    H = np.zeros((p, p))
    G = np.zeros(p)
    for g, pb, Linv in zip(ws.groups, ws.pairs, factors, strict=True):
        Dw = whiten(g, pb, Linv, g.block(D)).reshape(-1, p)
        rw = whiten(g, pb, Linv, g.block(r)).reshape(-1)
        H += Dw.T @ Dw
        G += Dw.T @ rw
    return H, G


def class_sums(ws: Workspace, b: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per pair class: ``sum b_j b_k`` and ``sum w_j w_k`` over the pairs of the class."""
    G = ws.class_keys.shape[0]
    S = np.zeros(G)
    N = np.zeros(G)
    for g, pb in zip(ws.groups, ws.pairs, strict=True):
        if pb is None:
            continue
        B = g.block(b)
        Wb = g.block(w)
        cls = pb.classes.reshape(-1)
        ok = cls >= 0
        prod = (B[:, pb.j] * B[:, pb.k]).reshape(-1)
        wprod = (Wb[:, pb.j] * Wb[:, pb.k]).reshape(-1)
        S += np.bincount(cls[ok], weights=prod[ok], minlength=G)
        N += np.bincount(cls[ok], weights=wprod[ok], minlength=G)
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
    sw = np.sqrt(ws.w * mu_eta**2 / var)
    beta, *_ = np.linalg.lstsq(ws.X * sw[:, None], z * sw, rcond=None)
    return np.asarray(beta, dtype=np.float64)


def _glm_phase(
    ws: Workspace, family: Family, link: Link, beta: FloatArray, tol: float, maxiter: int
) -> tuple[FloatArray, int, bool]:
    """Fisher scoring with the identity working correlation: the GLM fit (IRLS)."""
    identity: list[FloatArray | None] = [None] * len(ws.groups)
    n_iter = 0
    for _ in range(maxiter):
        n_iter += 1
        beta, change, _ = _beta_step(ws, family, link, beta, identity)
        if change <= tol:
            return beta, n_iter, True
    return beta, n_iter, False


def _beta_step(
    ws: Workspace,
    family: Family,
    link: Link,
    beta: FloatArray,
    factors: list[FloatArray | None],
) -> tuple[FloatArray, float, float]:
    """One Fisher-scoring step in ``beta`` (halved while it leaves the valid range).

    Returns the new ``beta``, the largest change relative to ``1 + |beta|`` and the
    largest absolute change.
    """
    _, mu, mu_eta, var, _ = _row_state(ws, beta, family, link)
    H, G = _score(ws, factors, mu_eta, var, ws.y - mu)
    delta = _solve(H, G)
    step = 1.0
    for _half in range(40):
        new = beta + step * delta
        if _row_state(ws, new, family, link)[4]:
            d = np.abs(step * delta)
            change = float(np.max(d / (1.0 + np.abs(new)), initial=0.0))
            return new, change, float(np.max(d, initial=0.0))
        step *= 0.5
    raise GEEError(
        "no step keeps the linear predictor in the link's domain and the means in the "
        "family's range; check the model or give start values"
    )


def _pearson(
    ws: Workspace, family: Family, link: Link, beta: FloatArray
) -> FloatArray:
    _, mu, _, var, _ = _row_state(ws, beta, family, link)
    return np.asarray((ws.y - mu) / np.sqrt(var), dtype=np.float64)


def fit_gee(
    ws: Workspace,
    family: Family,
    link: Link,
    scale_fix: float | None = None,
    start: FloatArray | None = None,
    tol: float | None = None,
    maxiter: int | None = None,
    algorithm: str = "converge",
) -> GEEFit:
    """Solve the estimating equations.

    Parameters
    ----------
    ws
        The sorted data and pair classes.
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

    Returns
    -------
    GEEFit
    """
    if algorithm not in ("converge", "geepack"):
        raise ValueError(f"algorithm must be 'converge' or 'geepack', got {algorithm!r}")
    emulate = algorithm == "geepack"
    if tol is None:
        tol = 1e-4 if emulate else 1e-10
    if maxiter is None:
        maxiter = 25 if emulate else 100
    corr = ws.corr
    has_alpha = not corr.is_independence and ws.class_keys.size > 0
    sum_w = float(np.sum(ws.w))
    if start is None:
        beta = _glm_start(ws, family, link)
        if not _row_state(ws, beta, family, link)[4]:
            raise GEEError("the starting values give means outside the family's range")
        # The GLM fit is the independence GEE and the start of every other structure.
        beta, n_iter, glm_ok = _glm_phase(ws, family, link, beta, 1e-12, max(maxiter, 100))
    else:
        beta = np.asarray(start, dtype=np.float64).copy()
        n_iter, glm_ok = 0, False
        if not _row_state(ws, beta, family, link)[4]:
            raise GEEError("the start values give means outside the family's range")
    alpha = corr.start()
    pr = _pearson(ws, family, link, beta)
    if scale_fix is not None:
        scale = float(scale_fix)
    elif emulate:
        scale = float(np.mean(ws.w * pr * pr))  # geepack: lm.fit of the squared GLM residuals
    else:
        scale = float(np.sum(ws.w * pr * pr) / sum_w)
    if has_alpha and not emulate:
        S, N = class_sums(ws, ws.w * pr, ws.w)
        alpha = corr.estimate(ws.class_keys, S / scale, N, alpha)
    converged = corr.is_independence and not emulate and glm_ok
    if not converged:
        for _ in range(maxiter):
            n_iter += 1
            factors = correlation_factors(ws, alpha)
            beta, change, abs_change = _beta_step(ws, family, link, beta, factors)
            if emulate:
                change = abs_change
            pr = _pearson(ws, family, link, beta)
            if scale_fix is None:
                new_scale = float(np.sum(ws.w * pr * pr) / sum_w)
                change = max(
                    change,
                    abs(new_scale - scale) / (1.0 if emulate else max(new_scale, 1e-300)),
                )
                scale = new_scale
            if has_alpha:
                S, N = class_sums(ws, ws.w * pr, ws.w)
                step = corr.fisher_step if emulate else corr.estimate
                new_alpha = step(ws.class_keys, S / scale, N, alpha)
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
    factors = correlation_factors(ws, alpha) if has_alpha else [None] * len(ws.groups)
    eta, mu, mu_eta, var, _ = _row_state(ws, beta, family, link)
    return GEEFit(
        beta=beta,
        alpha=np.asarray(alpha, dtype=np.float64),
        scale=scale,
        scale_fixed=scale_fix is not None,
        converged=converged,
        n_iter=n_iter,
        ws=ws,
        eta=eta,
        mu=mu,
        mu_eta=mu_eta,
        var=var,
        factors=factors,
    )
