"""Independence Metropolis-Hastings on the collapsed marginal posterior, in numpy.

The collapsed posterior of a Gaussian LMM (:mod:`._collapsed`) lives on a few
parameters: log SDs, unconstrained correlation factors, log sigma and the fixed effects
whose prior is neither normal nor flat.  With many observations it is close to
Gaussian, so an independence sampler whose proposal is a multivariate t fitted to it
needs one evaluation of the marginal per draw and few draws per effective draw, and no
gradient and no compilation:

1. the posterior mode (BFGS, central-difference gradients evaluated as one batch) and
   the Laplace covariance (central-difference Hessian);
2. warm-up: every chain runs the sampler with the Laplace proposal; after each half
   of it, the proposal becomes the best of a few candidates (centred at the mode with
   the Laplace covariance, or at the importance-weighted moments of the warm-up
   proposals; several degrees of freedom and scales), judged by their importance-
   sampling efficiency estimated from the warm-up proposals already evaluated;
3. sampling with that proposal held fixed (so each chain is an exact Metropolis-Hastings
   chain for the collapsed posterior); for every draw, ``(v, beta_c)`` is drawn
   exactly from its Gaussian conditional with the factorisation already computed for
   the accepted state.

Proposals do not depend on the chain's state, so the marginal is evaluated for a batch
of proposals at once: batched dense Cholesky factors for small ``q``, and for large
crossed designs the blocked factorisation of the core's criterion (the first term's
block diagonal, a sparse product for the Schur complement of the others and one dense
Cholesky) one state at a time, in a thread pool.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy import optimize
from scipy.special import gammaln, logsumexp
from threadpoolctl import threadpool_limits

from ._collapsed import _fixed_priors, _z_matrix, collapsible
from ._data import BayesData
from ._lapack import cholesky_from_upper
from ._priors import Prior, PriorSet

__all__ = ["CollapsedTarget", "IMHSettings", "run_imh"]

#: Largest order ``q + p_c`` of the conditional system factorised densely in batches.
DENSE_MAX = 400
#: Proposals a chain of a large (blocked) target evaluates before its conditional draws
#: (each keeps its factorisation until then: about ``8 (q1 + p_c)^2`` bytes).
_SPARSE_STEP = 4


@dataclass
class IMHSettings:
    """Tuning of the independence sampler.

    Attributes
    ----------
    df : float
        Degrees of freedom of the multivariate-t proposal (heavier tails than the
        posterior keep the importance weights bounded).
    scale : float
        Proposal scale matrix = ``scale**2`` times the fitted covariance (``0.9`` gives
        the t proposal about the fitted covariance for ``df = 10``).
    threads : int
        Threads evaluating the marginal of large designs (0: the CPU count, at most 4).
    """

    df: float = 10.0
    scale: float = 0.9
    threads: int = 0


def _log_prior(p: Prior, x: Any) -> Any:
    """Log density of ``p`` at ``x`` up to a constant (truncation constants included in
    the constant: the arguments are fixed)."""
    a = p.args
    if p.dist == "flat":
        return np.zeros_like(x)
    if p.dist == "normal":
        return -0.5 * ((x - a[0]) / a[1]) ** 2
    if p.dist == "student_t":
        nu, mu, s = a
        return -0.5 * (nu + 1.0) * np.log1p(((x - mu) / s) ** 2 / nu)
    if p.dist == "cauchy":
        return -np.log1p(((x - a[0]) / a[1]) ** 2)
    if p.dist == "exponential":
        return -a[0] * x
    if p.dist == "gamma":
        return (a[0] - 1.0) * np.log(x) - a[1] * x
    raise ValueError(f"no density for prior {p.dist} on a scalar parameter")


def _corr_cholesky(x: Any, d: int) -> tuple[Any, Any]:
    """Cholesky factors of correlation matrices from unconstrained ``x`` ``(N, m)``
    (tanh of canonical partial correlations, stick-breaking as NumPyro's
    ``CorrCholeskyTransform``) and the log Jacobian of the map."""
    N = x.shape[0]
    z = np.tanh(x)
    # log(1 - tanh(x)^2), stable for large |x|
    logj = np.sum(-2.0 * (np.logaddexp(0.0, -2.0 * x) + x - np.log(2.0)), axis=1)
    L = np.zeros((N, d, d))
    L[:, 0, 0] = 1.0
    idx = 0
    for i in range(1, d):
        rem = np.ones(N)
        for j in range(i):
            L[:, i, j] = z[:, idx] * np.sqrt(rem)
            logj = logj + 0.5 * np.log(rem)
            rem = np.maximum(rem - L[:, i, j] ** 2, 1e-300)
            idx += 1
        L[:, i, i] = np.sqrt(rem)
    return L, logj


class CollapsedTarget:
    """The collapsed log posterior on the unconstrained scale, with exact conditional
    draws of ``(v, beta_c)``.

    Parameters
    ----------
    bd, ps
        Data and priors of a Gaussian identity-link model with random effects.
    dense : bool or None
        Force the batched dense (``True``) or the blocked sparse (``False``)
        factorisation; by default dense when ``q + p_c <= DENSE_MAX``.
    """

    def __init__(self, bd: BayesData, ps: PriorSet, dense: bool | None = None) -> None:
        if bd.family != "gaussian" or bd.link != "identity" or not bd.terms:
            raise ValueError("the collapsed sampler needs a Gaussian identity-link LMM")
        self.bd, self.ps = bd, ps
        flags = np.asarray(collapsible(bd, ps), dtype=bool)
        self.ci, self.si = np.flatnonzero(flags), np.flatnonzero(~flags)
        priors = _fixed_priors(bd, ps)
        self.fixed_priors = priors
        self.prec = np.array(
            [0.0 if priors[i].dist == "flat" else priors[i].args[1] ** -2 for i in self.ci]
        )
        self.pmean = np.array(
            [0.0 if priors[i].dist == "flat" else priors[i].args[0] for i in self.ci]
        )
        Z, self.offsets = _z_matrix(bd)
        Z = Z.tocsr()
        X = np.column_stack([np.ones(bd.n), bd.Xc]) if bd.has_intercept else bd.Xc
        w = np.ones(bd.n) if bd.weights is None else bd.weights
        y0 = bd.y - bd.offset
        Zw = (sp.diags(w) @ Z).tocsr()
        self.ZZ = (Z.T @ Zw).tocsr()
        self.ZX = np.asarray(Zw.T @ X)
        self.XX = X.T @ (w[:, None] * X)
        self.Zy = np.asarray(Zw.T @ y0).ravel()
        self.Xy = X.T @ (w * y0)
        self.yy = float(np.sum(w * y0 * y0))
        self.X, self.y0, self.w = X, y0, w
        self.n = bd.n
        self.q = int(Z.shape[1])
        self.pc = len(self.ci)
        self.m = self.q + self.pc
        self.dense = self.m <= DENSE_MAX if dense is None else bool(dense)
        self._layout()
        if self.dense:
            self.ZZd = self.ZZ.toarray()
        else:
            self._sparse_setup()

    # ----------------------------------------------------------------- parameters
    def _layout(self) -> None:
        self.slices: dict[str, slice] = {}
        pos = 0
        for k, t in enumerate(self.bd.terms):
            self.slices[f"sd_{k}"] = slice(pos, pos + t.dim)
            pos += t.dim
            if t.correlated:
                m = t.dim * (t.dim - 1) // 2
                self.slices[f"cor_{k}"] = slice(pos, pos + m)
                pos += m
        self.slices["sigma"] = slice(pos, pos + 1)
        pos += 1
        self.slices["beta_s"] = slice(pos, pos + len(self.si))
        pos += len(self.si)
        self.size = pos

    def constrain(self, phi: Any) -> tuple[dict[str, Any], Any]:
        """Natural parameters of a batch ``phi`` ``(N, size)`` and the log prior density
        plus log Jacobian ``(N,)``."""
        phi = np.atleast_2d(phi)
        bd, ps = self.bd, self.ps
        out: dict[str, Any] = {}
        lp = np.zeros(phi.shape[0])
        for k, t in enumerate(bd.terms):
            lsd = phi[:, self.slices[f"sd_{k}"]]
            sd = np.exp(lsd)
            out[f"sd_{k}"] = sd
            for i, c in enumerate(t.columns):
                lp = lp + _log_prior(ps.sd[(t.group, c)], sd[:, i]) + lsd[:, i]
            if t.correlated:
                L, logj = _corr_cholesky(phi[:, self.slices[f"cor_{k}"]], t.dim)
                out[f"L_{k}"] = L
                eta = ps.cor[t.group].args[0]
                powers = t.dim - np.arange(t.dim) + 2.0 * eta - 3.0
                lp = lp + logj + np.sum(powers[1:] * np.log(np.diagonal(L, 0, 1, 2)[:, 1:]), 1)
        lsig = phi[:, self.slices["sigma"]][:, 0]
        out["sigma"] = np.exp(lsig)
        assert ps.sigma is not None
        lp = lp + _log_prior(ps.sigma, out["sigma"]) + lsig
        beta_s = phi[:, self.slices["beta_s"]]
        out["beta_s"] = beta_s
        for j, i in enumerate(self.si.tolist()):
            lp = lp + _log_prior(self.fixed_priors[i], beta_s[:, j])
        return out, lp

    def factors(self, theta: dict[str, Any], k: int) -> Any:
        """``diag(sd) L`` of term ``k`` for the batch, ``(N, d, d)``."""
        sd = theta[f"sd_{k}"]
        if self.bd.terms[k].correlated:
            return sd[:, :, None] * theta[f"L_{k}"]
        return sd[:, :, None] * np.eye(sd.shape[1])[None]

    def _response(self, beta_s: Any) -> tuple[Any, Any, Any]:
        """``Z'W(y0 - X_s b_s)``, ``X_c'W(...)`` and the weighted RSS of ``y0 - X_s b_s``
        for a batch of ``beta_s``."""
        si, ci = self.si, self.ci
        zy = self.Zy[None, :] - beta_s @ self.ZX[:, si].T
        xy = self.Xy[ci][None, :] - beta_s @ self.XX[np.ix_(si, ci)]
        rss = (
            self.yy
            - 2.0 * beta_s @ self.Xy[si]
            + np.einsum("ni,ij,nj->n", beta_s, self.XX[np.ix_(si, si)], beta_s)
        )
        return zy, xy, rss

    # ------------------------------------------------------------ dense, batched
    def _dense(self, theta: dict[str, Any]) -> tuple[Any, list[Any]]:
        bd = self.bd
        N = theta["sigma"].shape[0]
        s2 = theta["sigma"] ** 2
        Ts = [self.factors(theta, k) for k in range(len(bd.terms))]
        bounds = [*self.offsets, self.q]
        zy, xy, rss = self._response(theta["beta_s"])
        A = np.zeros((N, self.m, self.m))
        c = np.zeros((N, self.m))
        ci = self.ci
        for k, tk in enumerate(bd.terms):
            rk = slice(bounds[k], bounds[k + 1])
            for j, tj in enumerate(bd.terms):
                rj = slice(bounds[j], bounds[j + 1])
                blk = self.ZZd[rk, rj].reshape(tk.n_levels, tk.dim, tj.n_levels, tj.dim)
                if j == k:  # block diagonal: one level per observation
                    G = np.einsum("iaib->iab", blk)
                    D = np.einsum("Nca,icd,Ndb->Niab", Ts[k], G, Ts[k], optimize=True)
                    lev = bounds[k] + np.arange(tk.n_levels)[:, None] * tk.dim
                    rows = (lev + np.arange(tk.dim))[:, :, None]
                    cols = (lev + np.arange(tk.dim))[:, None, :]
                    A[:, rows, cols] = D
                    continue
                A[:, rk, rj] = np.einsum(
                    "Nca,icme,Neb->Niamb", Ts[k], blk, Ts[j], optimize=True
                ).reshape(N, tk.n_levels * tk.dim, tj.n_levels * tj.dim)
            zx = self.ZX[rk][:, ci].reshape(tk.n_levels, tk.dim, -1)
            A[:, rk, self.q :] = np.einsum("Nca,icp->Niap", Ts[k], zx).reshape(N, -1, self.pc)
            c[:, rk] = np.einsum(
                "Nca,Nic->Nia", Ts[k], zy[:, rk].reshape(N, tk.n_levels, tk.dim)
            ).reshape(N, -1)
        A[:, self.q :, : self.q] = np.swapaxes(A[:, : self.q, self.q :], 1, 2)
        A[:, self.q :, self.q :] = self.XX[np.ix_(ci, ci)]
        A /= s2[:, None, None]
        A[:, np.arange(self.q), np.arange(self.q)] += 1.0
        A[:, self.q + np.arange(self.pc), self.q + np.arange(self.pc)] += self.prec
        c /= s2[:, None]
        c[:, self.q :] = xy / s2[:, None] + self.prec * self.pmean
        L, failed = _batched_cholesky(A)
        wv = np.linalg.solve(L, c[..., None])[..., 0]
        half_logdet = np.sum(np.log(np.diagonal(L, 0, 1, 2)), axis=1)
        value = (
            -self.n * np.log(theta["sigma"])
            - 0.5 * rss / s2
            - half_logdet
            + 0.5 * np.sum(wv * wv, axis=1)
        )
        value[failed] = -np.inf
        return value, [(L[i], wv[i]) for i in range(N)]

    def _dense_draw(self, states: list[Any], rng: np.random.Generator) -> Any:
        L = np.stack([s[0] for s in states])
        wv = np.stack([s[1] for s in states])
        z = rng.standard_normal(wv.shape)
        return np.linalg.solve(np.swapaxes(L, 1, 2), (wv + z)[..., None])[..., 0]

    # ------------------------------------------------------------- sparse, blocked
    def _sparse_setup(self) -> None:
        t0 = self.bd.terms[0]
        self.n0, self.d0 = t0.n_levels, t0.dim
        self.q0 = self.n0 * self.d0
        q0 = self.q0
        ZZ = self.ZZ.tocsr()
        G = ZZ[:q0, :q0].tocoo()
        li, lj = G.row // self.d0, G.col // self.d0
        if np.any(li != lj):  # pragma: no cover - one level per observation
            raise RuntimeError("the first term's cross-product is not block diagonal")
        self.G0 = np.zeros((self.n0, self.d0, self.d0))
        np.add.at(self.G0, (li, G.row % self.d0, G.col % self.d0), G.data)
        self.Z01 = ZZ[:q0, q0:].tocsr()
        self.Z10 = self.Z01.T.tocsr()
        self.Z11 = ZZ[q0:, q0:].toarray()
        self.ZX0 = self.ZX[:q0][:, self.ci]
        self.ZX1 = self.ZX[q0:][:, self.ci]
        self.q1 = self.q - q0
        # A scalar first term and scalar others (crossed intercepts, as InstEval): the
        # Schur complement's ``Z10 diag(h) Z01`` is a fixed linear map of ``h``, so it is
        # precomputed as a sparse matrix of the pairs of columns each level touches.
        self.scalar = self.d0 == 1 and all(t.dim == 1 for t in self.bd.terms[1:])
        if self.scalar and self.q1:
            self.pairs = self._pair_map()

    def _pair_map(self) -> Any:
        """``P`` with ``P @ h`` = the upper triangle of ``Z10 diag(h) Z01``, flattened."""
        Z = self.Z01.tocsr()
        Z.sort_indices()
        flat, col, val = [], [], []
        for i in range(self.n0):
            lo, hi = Z.indptr[i], Z.indptr[i + 1]
            j, v = Z.indices[lo:hi], Z.data[lo:hi]
            a, b = np.triu_indices(j.size)
            flat.append(j[a].astype(np.int64) * self.q1 + j[b])
            val.append(v[a] * v[b])
            col.append(np.full(a.size, i))
        return sp.csr_matrix(
            (np.concatenate(val), (np.concatenate(flat), np.concatenate(col))),
            shape=(self.q1 * self.q1, self.n0),
        )

    def _scalar_schur(self, h: Any, k1: Any, s2: float, Sxx: Any) -> Any:
        """The Schur complement when every term is scalar, its upper triangle only
        (all the Cholesky factorisation reads)."""
        q1 = self.q1
        S = np.empty((q1 + self.pc, q1 + self.pc))
        S11 = S[:q1, :q1]
        np.multiply((self.pairs @ h).reshape(q1, q1), -1.0 / s2, out=S11)
        S11 += self.Z11
        S11 *= k1[:, None] / s2
        S11 *= k1[None, :]
        S11[np.diag_indices(q1)] += 1.0
        S[:q1, q1:] = k1[:, None] * (self.ZX1 - self.Z10 @ (h[:, None] * self.ZX0) / s2) / s2
        S[q1:, q1:] = Sxx
        return S

    def _rest_factor(self, theta: dict[str, Any], i: int) -> Any:
        """Block-diagonal ``T`` of the terms after the first, sparse ``(q1, q1)``."""
        blocks = [
            sp.kron(sp.identity(t.n_levels), self.factors(theta, k)[i])
            for k, t in enumerate(self.bd.terms)
            if k > 0
        ]
        return sp.block_diag(blocks, format="csr")

    def _sparse_one(self, theta: dict[str, Any], i: int) -> tuple[float, Any]:
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return self._sparse_value(theta, i)
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            # a proposal so extreme (an SD or sigma that overflows) that the system is
            # not numerically positive definite: zero posterior density, never accepted
            return -np.inf, None

    def _sparse_value(self, theta: dict[str, Any], i: int) -> tuple[float, Any]:
        sigma = float(theta["sigma"][i])
        s2 = sigma * sigma
        T0 = self.factors(theta, 0)[i]
        beta_s = theta["beta_s"][i : i + 1]
        zy, xy, rss = self._response(beta_s)
        zy, xy, rss = zy[0], xy[0], float(rss[0])
        D = np.einsum("ca,icd,db->iab", T0, self.G0, T0) / s2 + np.eye(self.d0)
        LD = np.linalg.cholesky(D)
        Dinv = np.linalg.inv(D)
        H = np.einsum("ac,icd,bd->iab", T0, Dinv, T0)
        Hs = sp.bsr_matrix(
            (H, np.arange(self.n0), np.arange(self.n0 + 1)), shape=(self.q0, self.q0)
        )
        c0 = np.einsum("ca,ic->ia", T0, zy[: self.q0].reshape(self.n0, self.d0)) / s2
        w0 = np.linalg.solve(LD, c0[..., None])[..., 0]
        g = np.einsum("ac,icd,id->ia", T0, Dinv, c0).reshape(-1)
        HX = Hs @ self.ZX0
        Sxx = (self.XX[np.ix_(self.ci, self.ci)] - self.ZX0.T @ HX / s2) / s2 + np.diag(self.prec)
        rx = xy / s2 + self.prec * self.pmean - self.ZX0.T @ g / s2
        if self.q1 and self.scalar:
            k1 = np.concatenate(
                [
                    np.repeat(theta[f"sd_{k}"][i, 0], t.n_levels)
                    for k, t in enumerate(self.bd.terms)
                    if k > 0
                ]
            )
            K1 = sp.diags(k1).tocsr()
            S = self._scalar_schur(H[:, 0, 0], k1, s2, Sxx)
            r1 = k1 * (zy[self.q0 :] - self.Z10 @ g) / s2
            r = np.concatenate([r1, rx])
        elif self.q1:
            K1 = self._rest_factor(theta, i)
            HZ = (Hs @ self.Z01).tocsc()
            Y11 = (self.Z10 @ HZ).toarray()
            M = self.Z11 - Y11 / s2
            S11 = np.asarray((K1.T @ (K1.T @ M).T).T) / s2 + np.eye(self.q1)
            S1x = np.asarray(K1.T @ (self.ZX1 - HZ.T @ self.ZX0 / s2)) / s2
            r1 = np.asarray(K1.T @ (zy[self.q0 :] - self.Z10 @ g)) / s2
            S = np.block([[S11, S1x], [S1x.T, Sxx]])
            r = np.concatenate([r1, rx])
        else:
            K1, S, r = None, Sxx, rx
        # In place from S's upper triangle (all the scalar path fills), without the GIL:
        # the pool's threads factorise in parallel.
        LS = cholesky_from_upper(np.ascontiguousarray(S)) if S.shape[0] else S
        u = la.solve_triangular(LS, r, lower=True, check_finite=False) if S.shape[0] else r
        half_logdet = np.sum(np.log(np.diagonal(LD, 0, 1, 2))) + np.sum(np.log(np.diag(LS)))
        value = (
            -self.n * np.log(sigma) - 0.5 * rss / s2 - half_logdet + 0.5 * (np.sum(w0 * w0) + u @ u)
        )
        return float(value), (T0, s2, LD, Dinv, w0, K1, LS, u)

    def _sparse_draw(self, state: Any, rng: np.random.Generator) -> Any:
        T0, s2, LD, Dinv, w0, K1, LS, u = state
        gr = (
            la.solve_triangular(
                LS, u + rng.standard_normal(u.shape), lower=True, trans="T", check_finite=False
            )
            if LS.shape[0]
            else u
        )
        g1, gx = gr[: self.q1], gr[self.q1 :]
        Bg = self.ZX0 @ gx
        if self.q1:
            Bg = Bg + self.Z01 @ (K1 @ g1)
        Bg = np.einsum("ca,ic->ia", T0, Bg.reshape(self.n0, self.d0)) / s2
        top = w0 + rng.standard_normal(w0.shape)
        g0 = np.linalg.solve(np.swapaxes(LD, 1, 2), top[..., None])[..., 0]
        g0 = g0 - np.einsum("iab,ib->ia", Dinv, Bg)
        return np.concatenate([g0.reshape(-1), g1, gx])

    # ---------------------------------------------------------------- interface
    def evaluate(self, phi: Any, pool: Any = None) -> tuple[Any, Any, list[Any]]:
        """``(log posterior, natural parameters, factor states)`` of a batch (``-inf``
        where a proposal is too extreme to evaluate)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            theta, lp = self.constrain(phi)
        if self.dense:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                value, states = self._dense(theta)
        else:
            N = phi.shape[0]
            mapper = pool.map if pool is not None and N > 1 else map
            res = list(mapper(lambda i: self._sparse_one(theta, i), range(N)))
            value = np.array([r[0] for r in res])
            states = [r[1] for r in res]
        total = lp + value
        return np.where(np.isfinite(total), total, -np.inf), theta, states

    def chunk(self, threads: int = 1) -> int:
        """Batch size of one evaluation (memory-bounded when dense)."""
        return max(1, min(256, int(2e7 // self.m**2))) if self.dense else max(1, threads)

    def log_posterior(self, phi: Any, pool: Any = None) -> Any:
        """Log posterior (up to a constant) of a batch ``(N, size)``."""
        size = self.chunk(getattr(pool, "_max_workers", 1))
        parts = [self.evaluate(phi[i : i + size], pool)[0] for i in range(0, phi.shape[0], size)]
        return np.concatenate(parts)

    def draw(self, states: list[Any], rng: np.random.Generator) -> Any:
        """Exact draws of ``gamma = (v, beta_c)``, one per state, ``(len, m)``."""
        if self.dense:
            return self._dense_draw(states, rng)
        return np.stack([self._sparse_draw(s, rng) for s in states])

    def start(self) -> Any:
        """A starting point: least squares for the sampled fixed effects, the residual
        SD of the fixed-effect fit for sigma and the random-effect SDs."""
        coef, *_ = np.linalg.lstsq(self.X * np.sqrt(self.w)[:, None], self.y0 * np.sqrt(self.w))
        resid = self.y0 - self.X @ coef
        s = float(np.sqrt(np.sum(self.w * resid**2) / max(self.n - 1, 1))) or 1.0
        phi = np.zeros(self.size)
        for k, _ in enumerate(self.bd.terms):
            phi[self.slices[f"sd_{k}"]] = np.log(0.5 * s)
        phi[self.slices["sigma"]] = np.log(0.7 * s)
        phi[self.slices["beta_s"]] = coef[self.si]
        return phi


def _batched_cholesky(A: Any) -> tuple[Any, Any]:
    """Cholesky factors of a batch ``(N, m, m)`` and which failed (not finite or not
    numerically positive definite: the identity stands in for those)."""
    failed = ~np.all(np.isfinite(A), axis=(1, 2))
    if np.any(failed):
        A = A.copy()
        A[failed] = np.eye(A.shape[1])
    try:
        return np.linalg.cholesky(A), failed
    except np.linalg.LinAlgError:
        L = np.empty_like(A)
        for i in range(A.shape[0]):  # rare: only when some proposal is extreme
            try:
                L[i] = np.linalg.cholesky(A[i])
            except np.linalg.LinAlgError:
                L[i], failed[i] = np.eye(A.shape[1]), True
        return L, failed


def _hessian(f: Callable[[Any], Any], x: Any, h: Any) -> Any:
    """Central-difference Hessian of ``f`` (evaluated on one batch of points)."""
    p = x.size
    pts = [x]
    for i in range(p):
        for s in (1, -1):
            e = x.copy()
            e[i] += s * h[i]
            pts.append(e)
    pairs = [(i, j) for i in range(p) for j in range(i + 1, p)]
    for i, j in pairs:
        for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            e = x.copy()
            e[i] += si * h[i]
            e[j] += sj * h[j]
            pts.append(e)
    v = f(np.array(pts))
    H = np.zeros((p, p))
    f0 = v[0]
    for i in range(p):
        H[i, i] = (v[1 + 2 * i] - 2 * f0 + v[2 + 2 * i]) / h[i] ** 2
    base = 1 + 2 * p
    for n, (i, j) in enumerate(pairs):
        pp, pm, mp, mm = v[base + 4 * n : base + 4 * n + 4]
        H[i, j] = H[j, i] = (pp - pm - mp + mm) / (4 * h[i] * h[j])
    return H


def laplace(target: CollapsedTarget, pool: Any = None) -> tuple[Any, Any, int]:
    """Posterior mode and Laplace covariance on the unconstrained scale, and the number
    of evaluations of the marginal used (``pool``: threads evaluating each batch)."""
    count = [0]

    def f(batch: Any) -> Any:
        count[0] += batch.shape[0]
        return target.log_posterior(batch, pool)

    def fun(x: Any) -> tuple[float, Any]:
        # forward differences: one batch of p + 1 points (the Hessian below is central)
        h = 1e-6 * np.maximum(1.0, np.abs(x))
        v = -f(np.vstack([x, x + np.diag(h)]))
        if not np.isfinite(v[0]):
            return np.inf, np.zeros_like(x)
        return float(v[0]), (v[1:] - v[0]) / h

    x0 = target.start()
    # scale each coordinate by its curvature at the start, so that BFGS starts from a
    # sensible metric (the posterior SDs differ by orders of magnitude)
    p = x0.size
    h0 = 1e-3 * np.maximum(1.0, np.abs(x0))
    v0 = f(np.vstack([x0, x0 + np.diag(h0), x0 - np.diag(h0)]))
    curv = -(v0[1 : 1 + p] - 2 * v0[0] + v0[1 + p :]) / h0**2
    scales = np.where(np.isfinite(curv) & (curv > 0), 1.0 / np.sqrt(np.abs(curv)), 1.0)

    def scaled(y: Any) -> tuple[float, Any]:
        value, grad = fun(x0 + scales * y)
        return value, grad * scales

    res = optimize.minimize(scaled, np.zeros(p), jac=True, method="BFGS", options={"gtol": 1e-3})
    mode = x0 + scales * res.x
    H = -_hessian(f, mode, 1e-3 * np.maximum(1.0, np.abs(mode)))
    w, V = np.linalg.eigh(0.5 * (H + H.T))
    if np.all(w > 0):
        cov = (V / w) @ V.T
    else:  # not a clean maximum: fall back on BFGS's curvature, floored
        cov = scales[:, None] * np.atleast_2d(np.asarray(res.hess_inv)) * scales[None, :]
        w2, V2 = np.linalg.eigh(0.5 * (cov + cov.T))
        cov = (V2 * np.maximum(w2, 1e-6)) @ V2.T
    return mode, cov, count[0]


class _Proposal:
    """Multivariate t proposal."""

    def __init__(self, mean: Any, cov: Any, df: float) -> None:
        self.mean, self.df = np.asarray(mean, float), float(df)
        self.chol = np.linalg.cholesky(cov)
        self.p = self.mean.size

    def draw(self, rng: np.random.Generator, n: int) -> Any:
        z = rng.standard_normal((n, self.p))
        g = rng.chisquare(self.df, n) / self.df
        return self.mean + (z @ self.chol.T) / np.sqrt(g)[:, None]

    def logpdf(self, x: Any) -> Any:
        """Normalised log density (proposals are compared through it)."""
        r = la.solve_triangular(self.chol, (x - self.mean).T, lower=True, check_finite=False)
        nu, p = self.df, self.p
        const = (
            gammaln(0.5 * (nu + p))
            - gammaln(0.5 * nu)
            - 0.5 * p * np.log(nu * np.pi)
            - np.sum(np.log(np.diag(self.chol)))
        )
        return const - 0.5 * (nu + p) * np.log1p(np.sum(r * r, axis=0) / nu)


def _weighted_moments(phis: Any, logw: Any) -> tuple[Any, Any] | None:
    """Self-normalised importance-weighted mean and covariance (``None`` when too few
    weights count)."""
    ok = np.isfinite(logw)
    p = phis.shape[1]
    if ok.sum() < 2 * p + 2:
        return None
    w = np.exp(logw[ok] - logw[ok].max())
    w /= w.sum()
    if 1.0 / np.sum(w * w) < max(5.0 * p, 20.0):
        return None
    x = phis[ok]
    mean = w @ x
    d = x - mean
    return mean, (d * w[:, None]).T @ d / (1.0 - np.sum(w * w))


#: Degrees of freedom and scales of the candidate proposals tried after each warm-up
#: round (a nearly Gaussian posterior wants a light-tailed proposal, a skewed one a
#: heavier-tailed, wider one).  No lighter tails than t(20): the efficiency estimate
#: cannot see the far tails, where a light-tailed proposal lets a chain stick (with
#: t(100) one quantile of a sleepstudy random effect missed brms's by 4.3 MCSEs).
CANDIDATE_DF = (5.0, 10.0, 20.0)
CANDIDATE_SCALE = (0.9, 1.0, 1.15)


def _best_proposal(
    phis: Any, lp: Any, lq: Any, centres: list[tuple[Any, Any]], current: _Proposal
) -> tuple[_Proposal, float]:
    """The candidate proposal with the largest estimated importance-sampling efficiency
    ``Z / E_pi[pi / q']`` (``Z`` and the expectation estimated from the warm-up
    proposals ``phis`` with their target and proposal log densities ``lp``, ``lq``)."""
    ok = np.isfinite(lp)
    if ok.sum() < 2 * phis.shape[1] + 2:
        return current, float("nan")
    phis, lw = phis[ok], lp[ok] - lq[ok]
    log_z = logsumexp(lw) - np.log(lw.size)
    norm = logsumexp(lw)

    def log_eff(q: _Proposal) -> float:
        lw2 = lp[ok] - q.logpdf(phis)
        return float(log_z - (logsumexp(lw + lw2) - norm))

    best, best_val = current, log_eff(current)
    for mean, cov in centres:
        for df in CANDIDATE_DF:
            for sc in CANDIDATE_SCALE:
                try:
                    q = _Proposal(mean, sc**2 * cov, df)
                except np.linalg.LinAlgError:
                    continue
                val = log_eff(q)
                if val > best_val:
                    best, best_val = q, val
    return best, float(np.exp(best_val))


def run_imh(
    bd: BayesData,
    ps: PriorSet,
    chains: int,
    draws: int,
    warmup: int,
    seed: int | None,
    progress: bool = False,
    settings: IMHSettings | None = None,
    dense: bool | None = None,
    target: Any = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Run the independence sampler; returns natural draws ``(chains, draws, ...)``,
    sampler statistics and a record of the run (evaluations, acceptance, timings).

    ``target`` defaults to the collapsed Gaussian posterior (:class:`CollapsedTarget`);
    any object with its interface may be passed (the GLMM quadrature target)."""
    st = settings or IMHSettings()
    t_start = time.perf_counter()
    if target is None:
        target = CollapsedTarget(bd, ps, dense=dense)
    rng = np.random.default_rng(seed)
    threads = st.threads or min(4, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(threads) if not target.dense and threads > 1 else None
    # The pool's threads are the parallelism: a multi-threaded BLAS inside each would
    # oversubscribe the cores (InstEval, 2 cores: 135 -> 85 CPU s, 70.7 -> 65.3 s wall).
    blas = threadpool_limits(1, user_api="blas") if pool is not None else None
    try:
        mode, cov, n_laplace = laplace(target, pool)
        prop = _Proposal(mode, st.scale**2 * cov, st.df)
        chunk = target.chunk(threads)
        n_eval = n_laplace

        # warm-up: all chains, proposal refitted to the weighted proposals after each half
        cur_phi = np.zeros((chains, target.size))
        cur_lp = np.full(chains, -np.inf)
        cur_state: list[Any] = [None] * chains
        hist_phi: list[Any] = []
        hist_lp: list[Any] = []
        hist_lq: list[Any] = []
        efficiency = float("nan")
        rounds = [warmup // 2, warmup - warmup // 2] if warmup else []
        for length in rounds:
            if length == 0:
                continue
            phis = prop.draw(rng, chains * length).reshape(chains, length, -1)
            lq = prop.logpdf(phis.reshape(-1, target.size)).reshape(chains, length)
            lps = target.log_posterior(phis.reshape(-1, target.size), pool).reshape(chains, length)
            n_eval += chains * length
            hist_phi.append(phis.reshape(-1, target.size))
            hist_lp.append(lps.reshape(-1))
            hist_lq.append(lq.reshape(-1))
            cur_lq = prop.logpdf(cur_phi)
            logu = np.log(rng.uniform(size=(chains, length)))
            for c in range(chains):
                for j in range(length):
                    if logu[c, j] < (lps[c, j] - lq[c, j]) - (cur_lp[c] - cur_lq[c]):
                        cur_phi[c], cur_lp[c], cur_lq[c] = phis[c, j], lps[c, j], lq[c, j]
            all_phi, all_lp = np.vstack(hist_phi), np.concatenate(hist_lp)
            all_lq = np.concatenate(hist_lq)
            centres = [(mode, cov)]
            moments = _weighted_moments(all_phi, all_lp - all_lq)
            if moments is not None:
                centres.append(moments)
            prop, efficiency = _best_proposal(all_phi, all_lp, all_lq, centres, prop)
        if not np.all(np.isfinite(cur_lp)):  # no warm-up: start from proposal draws
            bad = ~np.isfinite(cur_lp)
            cur_phi[bad] = prop.draw(rng, int(bad.sum()))
        # the states' factorisations (and their posterior values) under the final proposal
        cur_lp, _, cur_state = target.evaluate(cur_phi, pool)
        n_eval += chains
        cur_lq = prop.logpdf(cur_phi)

        out_phi = np.zeros((chains, draws, target.size))
        gamma = np.zeros((chains, draws, target.m))
        accept = np.zeros((chains, draws))
        lp_out = np.zeros((chains, draws))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=chains * draws, desc="IMH (collapsed)", unit="draw")
        # Each chain has its own stream, so the draws do not depend on which thread runs
        # which chain.  Dense targets evaluate a batch of proposals at once; large ones
        # run whole chains in the pool's threads (no barrier per batch: a chain's
        # evaluations, decisions and conditional draws follow one another in its thread).
        chain_rngs = rng.spawn(chains)
        step = chunk if target.dense else _SPARSE_STEP

        def run_chain(c: int) -> None:
            crng = chain_rngs[c]
            for start in range(0, draws, step):
                n = min(step, draws - start)
                phis = prop.draw(crng, n)
                lq = prop.logpdf(phis)
                lps, _, states = target.evaluate(phis)
                logu = np.log(crng.uniform(size=n))
                kept: list[Any] = []
                for j in range(n):
                    a = (lps[j] - lq[j]) - (cur_lp[c] - cur_lq[c])
                    accept[c, start + j] = 1.0 if a >= 0 else float(np.exp(a))
                    if logu[j] < a:
                        cur_phi[c], cur_lp[c], cur_lq[c] = phis[j], lps[j], lq[j]
                        cur_state[c] = states[j]
                    out_phi[c, start + j] = cur_phi[c]
                    lp_out[c, start + j] = cur_lp[c]
                    kept.append(cur_state[c])
                gamma[c, start : start + n] = target.draw(kept, crng)
                if bar is not None:
                    bar.update(n)

        if pool is not None:
            list(pool.map(run_chain, range(chains)))
        else:
            for c in range(chains):
                run_chain(c)
        n_eval += chains * draws
        if bar is not None:
            bar.close()
    finally:
        if blas is not None:
            blas.restore_original_limits()
        if pool is not None:
            pool.shutdown()

    theta, _ = target.constrain(out_phi.reshape(-1, target.size))
    out: dict[str, Any] = {}
    shape = (chains, draws)
    for k, t in enumerate(bd.terms):
        out[f"sd_{k}"] = theta[f"sd_{k}"].reshape(*shape, t.dim)
        if t.correlated:
            out[f"L_{k}"] = theta[f"L_{k}"].reshape(*shape, t.dim, t.dim)
        start = target.offsets[k]
        v = gamma[..., start : start + t.n_levels * t.dim].reshape(-1, t.n_levels, t.dim)
        T = target.factors(theta, k)
        out[f"r_{k}"] = np.einsum("Nia,Nba->Nib", v, T).reshape(*shape, t.n_levels, t.dim)
    for key in ("sigma", "shape"):
        if key in theta:
            out[key] = theta[key].reshape(shape)
    P = len(target.ci) + len(target.si)
    flat_beta = np.zeros((chains * draws, P))
    flat_beta[:, target.ci] = gamma[..., target.q :].reshape(chains * draws, target.pc)
    flat_beta[:, target.si] = theta["beta_s"]
    beta = flat_beta.reshape(*shape, P)
    if bd.has_intercept:
        out["Intercept"] = beta[..., 0]
        out["b"] = beta[..., 1:]
    else:
        out["b"] = beta
    stats = {
        "diverging": np.zeros(shape, dtype=bool),
        "n_steps": np.ones(shape, dtype=int),
        "tree_depth": np.zeros(shape, dtype=int),
        "acceptance_rate": accept,
        "energy": -lp_out,
        "step_size": np.full(shape, np.nan),
    }
    record = {
        "evaluations": int(n_eval),
        "laplace_evaluations": int(n_laplace),
        "mean_acceptance": float(accept.mean()),
        "proposal_df": prop.df,
        "estimated_is_efficiency": efficiency,
        "dense": bool(target.dense),
        "elapsed_s": time.perf_counter() - t_start,
    }
    return out, stats, record
