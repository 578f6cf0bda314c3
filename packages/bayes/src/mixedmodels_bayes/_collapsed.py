"""Exact collapsed sampling for Gaussian linear mixed models.

Given the SDs, correlation factors and sigma (and any fixed effects whose prior is not
normal or flat), the spherical random effects ``v`` (``u = T v``, ``T`` the terms'
``diag(sd) L`` blocks) and the remaining fixed effects ``beta_c`` are jointly Gaussian.
With ``gamma = (v, beta_c)``, ``M = [Z T, X_c]``, ``W`` the precision weights and
``P0 = diag(I, prior precisions of beta_c)`` (zero for flat priors),

    A = M' W M / sigma^2 + P0,     c = M' W (y - offset - X_s beta_s) / sigma^2 + P0 m0,

    log p(y | theta, sigma, beta_s) = -n log sigma - rss / (2 sigma^2)
                                      - log|A| / 2 + c' A^-1 c / 2 + const,

the penalized-least-squares pieces of the core's profiled criterion (log-determinant of
the blocked Cholesky factor and penalized residual sum of squares) written for brms's
parameterisation, where the random-effect covariance is not scaled by sigma.  Every
cross-product is formed once from ``[Z, X, y]``, so an evaluation costs one Cholesky of
order ``q + p_c`` whatever ``n``.  NUTS samples this low-dimensional marginal posterior;
``gamma`` is then drawn exactly from ``N(A^-1 c, A^-1)`` for every draw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import scipy.sparse as sp

from ._data import BayesData
from ._joint import sample_scale_parameters, sample_vector, term_factor
from ._priors import Prior, PriorSet

__all__ = ["CollapsedInfo", "collapsed_model", "collapsible", "draw_conditional"]


@dataclass
class CollapsedInfo:
    """Cross-products and the split of fixed effects, computed once."""

    ZZ: Any  # (q, q)
    ZX: Any  # (q, P)
    XX: Any  # (P, P)
    Zy: Any  # (q,)
    Xy: Any  # (P,)
    yy: float
    sum_log_w: float
    collapsed_idx: np.ndarray  # into the full fixed vector [Intercept, b...]
    sampled_idx: np.ndarray
    prior_prec: Any  # (p_c,) 0 for flat
    prior_mean: Any  # (p_c,)
    offsets: list[int]  # start of each term in q
    n: int


def _fixed_priors(bd: BayesData, ps: PriorSet) -> list[Prior]:
    """Priors of ``[Intercept, b...]``."""
    head = [ps.intercept] if bd.has_intercept and ps.intercept is not None else []
    return head + [ps.b[c] for c in bd.coef_names]


def collapsible(bd: BayesData, ps: PriorSet) -> list[bool]:
    """Which entries of ``[Intercept, b...]`` have normal or flat priors."""
    priors = _fixed_priors(bd, ps)
    return [p is not None and p.dist in ("normal", "flat") for p in priors]


def _z_matrix(bd: BayesData) -> tuple[sp.csr_matrix, list[int]]:
    """Sparse ``Z`` of every term, columns level-major within a term."""
    blocks, offsets, start = [], [], 0
    n = bd.n
    rows = np.arange(n)
    for t in bd.terms:
        offsets.append(start)
        cols = t.codes[:, None] * t.dim + np.arange(t.dim)[None, :]
        blocks.append(
            sp.csr_matrix(
                (t.Z.ravel(), (np.repeat(rows, t.dim), cols.ravel())),
                shape=(n, t.n_levels * t.dim),
            )
        )
        start += t.n_levels * t.dim
    return sp.hstack(blocks, format="csr"), offsets


def response_stats(bd: BayesData, y: Any) -> tuple[Any, Any, Any]:
    """``(Z'W y0, X'W y0, y0'W y0)`` of a response ``y`` (``y0 = y - offset``)."""
    Z, _ = _z_matrix(bd)
    X = np.column_stack([np.ones(bd.n), bd.Xc]) if bd.has_intercept else bd.Xc
    w = np.ones(bd.n) if bd.weights is None else bd.weights
    y0 = (np.asarray(y, dtype=float) - bd.offset) * w
    return jnp.asarray(Z.T @ y0), jnp.asarray(X.T @ y0), jnp.asarray(y0 @ (y0 / w))


def collapsed_info(bd: BayesData, ps: PriorSet) -> CollapsedInfo:
    """The cross-products of ``[Z, X, y - offset]`` under the precision weights."""
    if bd.family != "gaussian" or bd.link != "identity":
        raise ValueError(
            "the collapsed sampler is for Gaussian models with the identity link; "
            "use sampler='joint'"
        )
    Z, offsets = _z_matrix(bd)
    X = np.column_stack([np.ones(bd.n), bd.Xc]) if bd.has_intercept else bd.Xc
    y0 = bd.y - bd.offset
    w = np.ones(bd.n) if bd.weights is None else bd.weights
    Zw = sp.diags(w) @ Z
    ZZ = (Z.T @ Zw).toarray()
    ZX = Zw.T @ X
    XX = X.T @ (w[:, None] * X)
    Zy = Zw.T @ y0
    Xy = X.T @ (w * y0)
    flags = collapsible(bd, ps)
    c_idx = np.flatnonzero(flags)
    s_idx = np.flatnonzero(~np.asarray(flags, dtype=bool))
    priors = _fixed_priors(bd, ps)
    prec = np.array([0.0 if priors[i].dist == "flat" else priors[i].args[1] ** -2 for i in c_idx])
    mean = np.array([0.0 if priors[i].dist == "flat" else priors[i].args[0] for i in c_idx])
    return CollapsedInfo(
        ZZ=jnp.asarray(ZZ),
        ZX=jnp.asarray(ZX),
        XX=jnp.asarray(XX),
        Zy=jnp.asarray(Zy),
        Xy=jnp.asarray(Xy),
        yy=float(np.sum(w * y0 * y0)),
        sum_log_w=float(np.sum(np.log(w))),
        collapsed_idx=c_idx,
        sampled_idx=s_idx,
        prior_prec=jnp.asarray(prec.reshape(-1)),
        prior_mean=jnp.asarray(mean.reshape(-1)),
        offsets=offsets,
        n=bd.n,
    )


def _block_transform(bd: BayesData, info: CollapsedInfo, params: dict[str, Any]) -> Any:
    """``T' ZZ T``, ``T' ZX`` and ``T' Zy`` for the block-diagonal ``T``."""
    Ts = [term_factor(params, k, t.correlated) for k, t in enumerate(bd.terms)]
    sizes = [t.n_levels for t in bd.terms]
    dims = [t.dim for t in bd.terms]
    q = int(info.ZZ.shape[0])
    bounds = [*info.offsets, q]
    rows = []
    for k in range(len(bd.terms)):
        row = []
        for j in range(len(bd.terms)):
            blk = info.ZZ[bounds[k] : bounds[k + 1], bounds[j] : bounds[j + 1]]
            blk = blk.reshape(sizes[k], dims[k], sizes[j], dims[j])
            blk = jnp.einsum("ca,icme,eb->iamb", Ts[k], blk, Ts[j])
            row.append(blk.reshape(sizes[k] * dims[k], sizes[j] * dims[j]))
        rows.append(jnp.concatenate(row, axis=1))
    TZZT = jnp.concatenate(rows, axis=0)
    TZX = jnp.concatenate(
        [
            jnp.einsum(
                "ca,icp->iap",
                Ts[k],
                info.ZX[bounds[k] : bounds[k + 1]].reshape(sizes[k], dims[k], -1),
            ).reshape(sizes[k] * dims[k], -1)
            for k in range(len(bd.terms))
        ],
        axis=0,
    )
    TZy = jnp.concatenate(
        [
            jnp.einsum(
                "ca,ic->ia", Ts[k], info.Zy[bounds[k] : bounds[k + 1]].reshape(sizes[k], dims[k])
            ).reshape(-1)
            for k in range(len(bd.terms))
        ]
    )
    return TZZT, TZX, TZy


def _system(
    bd: BayesData, info: CollapsedInfo, params: dict[str, Any]
) -> tuple[Any, Any, Any, Any]:
    """``(A, c, rss, sigma)`` of the Gaussian conditional of ``(v, beta_c)``."""
    sigma = params["sigma"]
    s2 = sigma * sigma
    TZZT, TZX, TZy = _block_transform(bd, info, params)
    ci, si = info.collapsed_idx, info.sampled_idx
    beta_s = params["beta_s"]
    # Response after the sampled fixed effects: y0 - X_s beta_s.
    Zy = TZy - TZX[:, si] @ beta_s
    Xy_c = info.Xy[ci] - info.XX[np.ix_(ci, si)] @ beta_s
    rss = info.yy - 2.0 * beta_s @ info.Xy[si] + beta_s @ info.XX[np.ix_(si, si)] @ beta_s
    q = TZZT.shape[0]
    top = jnp.concatenate([TZZT / s2 + jnp.eye(q), TZX[:, ci] / s2], axis=1)
    bottom = jnp.concatenate(
        [TZX[:, ci].T / s2, info.XX[np.ix_(ci, ci)] / s2 + jnp.diag(info.prior_prec)], axis=1
    )
    A = jnp.concatenate([top, bottom], axis=0)
    c = jnp.concatenate([Zy / s2, Xy_c / s2 + info.prior_prec * info.prior_mean])
    return A, c, rss, sigma


def log_marginal(bd: BayesData, info: CollapsedInfo, params: dict[str, Any]) -> Any:
    """``log p(y | theta, sigma, beta_s)`` up to a constant."""
    A, c, rss, sigma = _system(bd, info, params)
    L = jnp.linalg.cholesky(A)
    half_logdet = jnp.sum(jnp.log(jnp.diag(L)))
    w = jax.scipy.linalg.solve_triangular(L, c, lower=True)
    return -info.n * jnp.log(sigma) - 0.5 * rss / sigma**2 - half_logdet + 0.5 * w @ w


def collapsed_model(bd: BayesData, ps: PriorSet) -> tuple[Callable[..., None], CollapsedInfo]:
    """The NumPyro model of the marginal posterior of the scale parameters."""
    info = collapsed_info(bd, ps)
    priors = _fixed_priors(bd, ps)
    sampled = [priors[i] for i in info.sampled_idx]
    names = (["Intercept"] if bd.has_intercept else []) + list(bd.coef_names)

    def model(y: Any = None, arrays: Any = None) -> None:
        """``arrays``: :func:`info_arrays` of a data set of the same structure (one
        compiled sampler serves them all, e.g. for simulation-based calibration);
        ``y`` is unused (the response enters through the cross-products)."""
        here = info if arrays is None else replace(info, **arrays)
        params = sample_scale_parameters(bd, ps)
        for k, t in enumerate(bd.terms):
            if len({(ps.sd[(t.group, c)].dist, ps.sd[(t.group, c)].args) for c in t.columns}) > 1:
                numpyro.deterministic(f"sd_{k}", params[f"sd_{k}"])
        params["beta_s"] = sample_vector("beta_s", sampled)  # type: ignore[arg-type]
        if len(info.sampled_idx):
            numpyro.deterministic("beta_s_all", params["beta_s"])
        blocked = bd.terms[0].dim <= BLOCKED_MAX_DIM
        marginal = log_marginal_blocked if blocked else log_marginal
        numpyro.factor("marginal", marginal(bd, here, params))

    model.fixed_names = names  # type: ignore[attr-defined]
    return model, info


#: Compiled conditional samplers, keyed by the model's structure (not its numbers), so
#: that refits of one design to new responses (simulation-based calibration) reuse them.
_COMPILED: dict[tuple[Any, ...], Any] = {}


def _conditional_fn(bd: BayesData, info: CollapsedInfo) -> Any:
    """``f(arrays, theta, sigma, beta_s, keys) -> (beta, [r_k])``, compiled once per
    structure; the cross-products travel as arguments.

    The draws are made one after another (``lax.map`` without batching), never as one
    batched factorisation: jaxlib's batched LAPACK kernels (``ParallelBatchMap``)
    split a large batch into tasks on XLA's intra-op thread pool and block a worker of
    that same pool until they finish, so two of them running at once on a 2-thread
    pool wait for each other forever (decision 0024).  Unbatched, every kernel runs
    on the calling thread.
    """
    key = (
        tuple((t.n_levels, t.dim, t.correlated) for t in bd.terms),
        tuple(info.collapsed_idx.tolist()),
        tuple(info.sampled_idx.tolist()),
        int(info.ZZ.shape[0]),
    )
    if key in _COMPILED:
        return _COMPILED[key]
    q = int(info.ZZ.shape[0])
    P = len(info.collapsed_idx) + len(info.sampled_idx)

    def one(arrays: dict[str, Any], theta: dict[str, Any], sigma: Any, beta_s: Any, k: Any):
        here = replace(info, **arrays)
        params = dict(theta, sigma=sigma, beta_s=beta_s)
        A, c, _, _ = _system(bd, here, params)
        L = jnp.linalg.cholesky(A)
        mean = jax.scipy.linalg.cho_solve((L, True), c)
        z = jax.random.normal(k, mean.shape)
        gamma = mean + jax.scipy.linalg.solve_triangular(L.T, z, lower=False)
        v = gamma[:q]
        beta = jnp.zeros(P).at[info.collapsed_idx].set(gamma[q:])
        beta = beta.at[info.sampled_idx].set(beta_s)
        rs = []
        for j, t in enumerate(bd.terms):
            start = info.offsets[j]
            vk = v[start : start + t.n_levels * t.dim].reshape(t.n_levels, t.dim)
            rs.append(vk @ term_factor(params, j, t.correlated).T)
        return beta, rs

    def run(arrays: dict[str, Any], theta: Any, sigma: Any, beta_s: Any, keys: Any) -> Any:
        return jax.lax.map(lambda xs: one(arrays, *xs), (theta, sigma, beta_s, keys))

    _COMPILED[key] = jax.jit(run)
    return _COMPILED[key]


def info_arrays(info: CollapsedInfo) -> dict[str, Any]:
    """The numbers of ``info`` (cross-products and prior moments), as JAX arrays."""
    return {
        "ZZ": info.ZZ,
        "ZX": info.ZX,
        "XX": info.XX,
        "Zy": info.Zy,
        "Xy": info.Xy,
        "yy": jnp.asarray(info.yy),
        "prior_prec": info.prior_prec,
        "prior_mean": info.prior_mean,
    }


def draw_conditional(
    bd: BayesData, info: CollapsedInfo, draws: dict[str, Any], key: Any
) -> dict[str, Any]:
    """Exact draws of the random effects and collapsed fixed effects, one per draw of
    the scale parameters; returns ``Intercept``, ``b`` and ``r_<k>``."""
    chains, n_draws = draws["sigma"].shape[:2]
    flat = {k: v.reshape((chains * n_draws, *v.shape[2:])) for k, v in draws.items()}
    sampled = flat.get("beta_s_all")
    if sampled is None:
        sampled = jnp.zeros((chains * n_draws, len(info.sampled_idx)))
    keys = jax.random.split(key, chains * n_draws)
    names = [f"sd_{k}" for k in range(len(bd.terms))] + [
        f"L_{k}" for k, t in enumerate(bd.terms) if t.correlated
    ]
    theta = {k: flat[k] for k in names}
    fn = _conditional_fn(bd, info)
    beta, rs = fn(info_arrays(info), theta, flat["sigma"], sampled, keys)
    out: dict[str, Any] = {}
    start = 0
    if bd.has_intercept:
        out["Intercept"] = beta[:, 0].reshape(chains, n_draws)
        start = 1
    out["b"] = beta[:, start:].reshape(chains, n_draws, -1)
    for j, r in enumerate(rs):
        out[f"r_{j}"] = r.reshape(chains, n_draws, *r.shape[1:])
    return out


def _small_cholesky(M: Any) -> list[list[Any]]:
    """Cholesky factors of a batch ``(..., d, d)`` of small matrices, unrolled into
    elementwise operations (``L[i][j]`` has the batch shape): no LAPACK call, and
    cheap to differentiate for the small ``d`` of a random-effect term."""
    d = M.shape[-1]
    L: list[list[Any]] = [[None] * d for _ in range(d)]
    for j in range(d):
        s = M[..., j, j] - sum((L[j][k] ** 2 for k in range(j)), jnp.zeros(()))
        L[j][j] = jnp.sqrt(s)
        for i in range(j + 1, d):
            off = sum((L[i][k] * L[j][k] for k in range(j)), jnp.zeros(()))
            L[i][j] = (M[..., i, j] - off) / L[j][j]
    return L


def _small_forward(L: list[list[Any]], b: Any) -> Any:
    """``L^-1 b`` for the unrolled factors of :func:`_small_cholesky`; ``b`` is
    ``(..., d, r)``."""
    d = len(L)
    x: list[Any] = []
    for i in range(d):
        acc = b[..., i, :]
        for k in range(i):
            acc = acc - L[i][k][..., None] * x[k]
        x.append(acc / L[i][i][..., None])
    return jnp.stack(x, axis=-2)


def _single_term_blocks(bd: BayesData, info: CollapsedInfo, params: dict[str, Any]) -> Any:
    """The blocks of ``A`` and ``c`` for a model with one random-effect term, read
    from the cross-products level by level (never forming ``A``): ``D`` ``(n0, d, d)``,
    ``B`` ``(n0, d, p_c)``, ``C`` ``(p_c, p_c)``, ``c0`` ``(n0, d)``, ``cr`` ``(p_c,)``,
    with ``rss`` and ``sigma``."""
    t = bd.terms[0]
    n0, d0 = t.n_levels, t.dim
    sigma = params["sigma"]
    s2 = sigma * sigma
    T = term_factor(params, 0, t.correlated)
    ci, si = info.collapsed_idx, info.sampled_idx
    beta_s = params["beta_s"]
    G = jnp.einsum("iaib->iab", info.ZZ.reshape(n0, d0, n0, d0))
    ZX = info.ZX.reshape(n0, d0, -1)
    D = jnp.einsum("ca,icd,db->iab", T, G, T) / s2 + jnp.eye(d0)
    B = jnp.einsum("ca,icp->iap", T, ZX[..., ci]) / s2
    C = info.XX[np.ix_(ci, ci)] / s2 + jnp.diag(info.prior_prec)
    zy = info.Zy.reshape(n0, d0) - ZX[..., si] @ beta_s
    c0 = jnp.einsum("ca,ic->ia", T, zy) / s2
    cr = (info.Xy[ci] - info.XX[np.ix_(ci, si)] @ beta_s) / s2 + info.prior_prec * info.prior_mean
    rss = info.yy - 2.0 * beta_s @ info.Xy[si] + beta_s @ info.XX[np.ix_(si, si)] @ beta_s
    return D, B, C, c0, cr, rss, sigma


#: Largest dimension of the first term for which the blocked marginal is used.
BLOCKED_MAX_DIM = 4


def log_marginal_blocked(bd: BayesData, info: CollapsedInfo, params: dict[str, Any]) -> Any:
    """:func:`log_marginal` with the first term's block factorised level by level.

    The first term's block of ``A`` is block diagonal (one ``d x d`` block per level),
    so ``log|A| = sum_i log|D_i| + log|S|`` and ``c'A^-1 c = |L_D^-1 c_0|^2 +
    |L_S^-1 (c_r - W' L_D^-1 c_0)|^2`` with ``W = L_D^-1 B`` and the Schur complement
    ``S = C - W'W`` of the remaining random effects and collapsed fixed effects: the
    blocked Cholesky factorisation of the core's criterion.  The small blocks are
    factorised elementwise; only ``S`` (often 1 x 1 or 2 x 2) goes to LAPACK.
    """
    t = bd.terms[0]
    n0, d0 = t.n_levels, t.dim
    q0 = n0 * d0
    if len(bd.terms) == 1:
        D, B, C, c0, cr, rss, sigma = _single_term_blocks(bd, info, params)
    else:
        A, c, rss, sigma = _system(bd, info, params)
        D = jnp.einsum("iaib->iab", A[:q0, :q0].reshape(n0, d0, n0, d0))
        B, C = A[:q0, q0:].reshape(n0, d0, -1), A[q0:, q0:]
        c0, cr = c[:q0].reshape(n0, d0), c[q0:]
    LD = _small_cholesky(D)
    WB = _small_forward(LD, jnp.concatenate([B, c0[..., None]], axis=-1))  # (n0, d0, m+1)
    W, w0 = WB[..., :-1].reshape(q0, -1), WB[..., -1].reshape(q0)
    half_logdet = sum(jnp.sum(jnp.log(LD[j][j])) for j in range(d0))
    quad = w0 @ w0
    if C.shape[0]:
        S = C - W.T @ W
        LS = jnp.linalg.cholesky(S)
        half_logdet = half_logdet + jnp.sum(jnp.log(jnp.diag(LS)))
        u = jax.scipy.linalg.solve_triangular(LS, cr - W.T @ w0, lower=True)
        quad = quad + u @ u
    return -info.n * jnp.log(sigma) - 0.5 * rss / sigma**2 - half_logdet + 0.5 * quad
