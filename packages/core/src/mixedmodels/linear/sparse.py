"""The blocked LMM criterion with a sparse, fill-reducing factorisation of the second block.

:class:`~mixedmodels.linear.criterion.LMMProblem` eliminates the first (largest) term
analytically and factors everything else as one dense block of size
``m = q_rest + p + 1``.  When the other terms have many levels (two huge crossed
factors) that block is large, but where the design is sparse it stays sparse after a
fill-reducing ordering.  Here (decision 0031) the random-effect part of the Schur
complement,

    S_ZZ(theta) = Lambda_R' (A_ZZ - A_Z1 W(theta_1) A_Z1') Lambda_R + I,

is a sparse matrix, factored by SuperLU (scipy) with a symmetric minimum-degree ordering
and no pivoting (``S_ZZ`` is symmetric positive definite, so ``U = D L'`` and
``log|S_ZZ| = sum log U_ii``).  The fixed effects and the response (``p + 1`` dense
columns) are eliminated after it: with ``C = S_ZZ^-1 S_ZD`` the dense ``(p + 1)``
square Schur complement ``S_DD - S_ZD' C`` gives ``log|R_X|^2`` and the penalised RSS.
The criterion is the dense path's to rounding.  No analytic gradient (the optimiser
works without one at these sizes, as on the dense path above 400 columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from ..errors import ModelSpecificationError
from ..interfaces import FloatArray
from .criterion import _batched_inverse_logdet
from .layout import Evaluation, TermData, ThetaLayout, profiled_objective

__all__ = ["SparseEvaluation", "SparseLMMProblem", "prefers_sparse", "second_block"]

#: Fewest random effects outside the first term for which the sparse path is considered:
#: below it the dense block factors in well under a second.
SPARSE_MIN_Q = 2_000
#: Largest share of ``q_rest^2`` the reverse Cuthill-McKee envelope of ``S_ZZ``'s
#: pattern may have for the sparse path (the envelope bounds the factor's fill; a
#: minimum-degree ordering does better).  Random crossings of two large factors fill
#: densely and stay on the dense path.
SPARSE_MAX_ENVELOPE = 0.05
#: Largest class map ``V`` (bytes) the blocked criterion may precompute.
V_MAX_BYTES = 1.5 * 2**30
# Most entries of sum_j a_j a_j' for which the pattern of S_ZZ is formed at all.
_MAX_PATTERN_WORK = 4e8

_potrf = sla.lapack.dpotrf
_potrs = sla.lapack.dpotrs
_pbtrf = sla.lapack.dpbtrf
_pbtrs = sla.lapack.dpbtrs


class _SuperLUFactor:
    """SuperLU of a symmetric positive definite matrix, symmetric ordering, no pivoting:
    ``U = D L'``, so ``diagonal`` (``D``) gives the log-determinant."""

    def __init__(self, lu: Any) -> None:
        self.lu = lu
        self.diagonal = lu.U.diagonal()

    @classmethod
    def of(cls, S: sp.csc_matrix, inv: np.ndarray | None = None) -> _SuperLUFactor | None:
        """Factor ``S`` with the minimum-degree ordering, or, given ``inv`` (the
        position of each row in a fixed ordering), ``S`` permuted by it."""
        if inv is not None:
            coo = S.tocoo()
            S = sp.csc_matrix((coo.data, (inv[coo.row], inv[coo.col])), shape=S.shape)
        try:
            lu = spla.splu(
                S,
                permc_spec="MMD_AT_PLUS_A" if inv is None else "NATURAL",
                diag_pivot_thresh=0.0,
                options={"SymmetricMode": True},
            )
        except RuntimeError:  # exactly singular
            return None
        if not np.array_equal(lu.perm_r, lu.perm_c):
            return None  # SuperLU had to pivot: not positive definite
        out = cls(lu)
        if inv is not None:
            out.inv, out.order = inv, np.argsort(inv)
        return out

    inv: np.ndarray | None = None
    order: np.ndarray | None = None

    def solve(self, b: FloatArray) -> FloatArray:
        b = np.asarray(b, dtype=np.float64)
        if self.inv is None:
            return np.asarray(self.lu.solve(b))
        return np.asarray(self.lu.solve(np.ascontiguousarray(b[self.order])))[self.inv]


class _BandedFactor:
    """LAPACK banded Cholesky of ``S`` permuted into a band (reverse Cuthill-McKee)."""

    def __init__(self, cb: FloatArray, inv: np.ndarray) -> None:
        self.cb, self.inv = cb, inv
        self.order = np.argsort(inv)
        self.diagonal = cb[0] ** 2

    @classmethod
    def of(cls, S: sp.csc_matrix, inv: np.ndarray, band: int) -> _BandedFactor | None:
        coo = S.tocoo()
        r, c = inv[coo.row], inv[coo.col]
        low = r >= c
        ab = np.zeros((band + 1, S.shape[0]))
        ab[r[low] - c[low], c[low]] = coo.data[low]
        cb, info = _pbtrf(ab, lower=1)
        if info != 0:
            return None
        return cls(cb, inv)

    def solve(self, b: FloatArray) -> FloatArray:
        b = np.asarray(b, dtype=np.float64)
        x, _ = _pbtrs(self.cb, b[self.order], lower=1)
        return np.asarray(x)[self.inv]


class _DenseFactor:
    """LAPACK Cholesky of the densified matrix; ``diagonal`` holds ``L_ii^2``."""

    def __init__(self, L: FloatArray) -> None:
        self.L = L
        self.diagonal = np.diag(L) ** 2

    @classmethod
    def of(cls, S: sp.csc_matrix) -> _DenseFactor | None:
        # A symmetric matrix is its own transpose: the C-ordered array read as Fortran.
        U, info = _potrf(S.toarray().T, lower=0, clean=1, overwrite_a=1)
        if info != 0:
            return None
        return cls(U.T)

    def solve(self, b: FloatArray) -> FloatArray:
        x, _ = _potrs(self.L, np.asarray(b, dtype=np.float64), lower=1)
        return np.asarray(x)


@dataclass
class SparseEvaluation(Evaluation):
    """An evaluation of the sparse criterion: ``L`` is the dense factor of the
    ``(p + 1)`` fixed-effects-and-response block only."""

    lu: Any = None  # factor of S_ZZ (_SuperLUFactor or _DenseFactor)
    C: FloatArray | None = None  # S_ZZ^-1 S_ZD, (q_rest, p + 1)


def _sparse_term(term: TermData, sw: FloatArray) -> sp.csc_matrix:
    """The term's ``n x q`` model matrix (level-major columns), rows scaled by ``sw``."""
    n, p = term.Z.shape
    rows = np.repeat(np.arange(n), p)
    cols = (term.codes[:, None] * p + np.arange(p)[None, :]).ravel()
    return sp.csc_matrix(((term.Z * sw[:, None]).ravel(), (rows, cols)), shape=(n, term.q))


def _block_diagonal(blocks: FloatArray) -> sp.csr_matrix:
    """``blockdiag(blocks[j])`` for ``(k, d, d)`` blocks."""
    k, d, _ = blocks.shape
    base = np.arange(k)[:, None, None] * d
    rows = np.broadcast_to(base + np.arange(d)[None, :, None], blocks.shape)
    cols = np.broadcast_to(base + np.arange(d)[None, None, :], blocks.shape)
    return sp.csr_matrix((blocks.ravel(), (rows.ravel(), cols.ravel())), shape=(k * d, k * d))


def _pattern_envelope(pattern: sp.csr_matrix) -> float:
    """Share of the full square in the lower envelope of ``pattern`` after a reverse
    Cuthill-McKee ordering (an upper bound on the Cholesky factor's fill)."""
    q = pattern.shape[0]
    perm = csgraph.reverse_cuthill_mckee(pattern, symmetric_mode=True)
    P = pattern[perm][:, perm].tocsr()
    first = np.full(q, q, dtype=np.int64)
    rows = np.repeat(np.arange(q), np.diff(P.indptr))
    np.minimum.at(first, rows, P.indices)
    width = np.arange(q) - np.minimum(first, np.arange(q))
    return float(np.sum(width + 1)) / (q * q)


def _s_pattern(first: sp.csc_matrix, rest: sp.csc_matrix) -> sp.csr_matrix:
    """The nonzero pattern of ``S_ZZ``: ``Z_R' Z_R`` and ``Z_R' Z_1 Z_1' Z_R``."""
    one_r = rest.copy()
    one_r.data[:] = 1.0
    one_1 = first.copy()
    one_1.data[:] = 1.0
    A = (one_r.T @ one_1).tocsr()
    return ((one_r.T @ one_r) + A @ A.T).tocsr()


def second_block(terms: list[TermData], p: int) -> str:
    """How the blocked criterion should hold the second block of these terms, decided
    from the design's sizes and pattern alone (never from timings):

    ``"sparse"``
        many random effects outside the first term (``SPARSE_MIN_Q``) and a pattern of
        ``S_ZZ`` whose envelope after ordering is a small share (``SPARSE_MAX_ENVELOPE``):
        :class:`SparseLMMProblem`.
    ``"direct"``
        a dense block, but the precomputed class map of
        :class:`~mixedmodels.linear.criterion.LMMProblem` would exceed ``V_MAX_BYTES``
        (levels of the first term meeting many levels of the others, as users and
        items of MovieLens): :class:`SparseLMMProblem` with ``dense_factor=True``,
        which forms ``G`` at every evaluation instead.
    ``"blocked"``
        :class:`~mixedmodels.linear.criterion.LMMProblem`.
    """
    if len(terms) < 2:
        return "blocked"
    first, rest = terms[0], terms[1:]
    q_rest = sum(t.q for t in rest)
    # Cheap bound first: a level's columns in A_R1 are at most its rows times the
    # other terms' dimensions (no sparse products for the common small cases).
    rows = np.bincount(first.codes, minlength=first.n_levels).astype(np.float64)
    bound = rows * sum(t.dim for t in rest) * first.dim
    if q_rest < SPARSE_MIN_Q and float(bound @ bound) * 6.0 <= V_MAX_BYTES:
        return "blocked"
    ones = np.ones(first.codes.size)
    Z1 = _sparse_term(first, ones)
    ZR = sp.hstack([_sparse_term(t, ones) for t in rest], format="csc")
    per_level = np.diff((ZR.T @ Z1).tocsc().indptr).astype(np.float64)
    work = float(per_level @ per_level)  # entries of sum_j a_j a_j'
    if (
        q_rest >= SPARSE_MIN_Q
        and work <= _MAX_PATTERN_WORK
        and _pattern_envelope(_s_pattern(Z1, ZR)) <= SPARSE_MAX_ENVELOPE
    ):
        return "sparse"
    # V stores about half of those entries (lower triangle), 12 bytes each in CSR.
    return "direct" if work * 6.0 > V_MAX_BYTES else "blocked"


def prefers_sparse(terms: list[TermData], p: int) -> bool:
    """Whether :func:`second_block` chooses the sparse factorisation."""
    return second_block(terms, p) == "sparse"


class SparseLMMProblem(ThetaLayout):
    """The profiled deviance / REML criterion with a sparse second block.

    Parameters
    ----------
    X
        ``(n, p)`` full-rank fixed-effects matrix.
    y
        ``(n,)`` response (offset already subtracted).
    terms
        Random-effect terms, sorted by number of levels, largest first (at least two).
    weights
        Prior weights or ``None``.
    dense_factor
        Factor ``S_ZZ`` as a dense matrix (LAPACK) instead of SuperLU: for designs whose
        Schur complement fills (``G`` is still formed from the sparse cross-products at
        every evaluation, without a precomputed class map).
    """

    def __init__(
        self,
        X: FloatArray,
        y: FloatArray,
        terms: list[TermData],
        weights: FloatArray | None = None,
        dense_factor: bool = False,
    ) -> None:
        if len(terms) < 2:
            raise ModelSpecificationError(
                "the sparse criterion needs at least two random-effect terms"
            )
        sw = self._set_data(X, terms, weights)
        first, rest = terms[0], terms[1:]
        p = self.p
        self.p1, self.n1 = first.dim, first.n_levels
        self.rest_offsets = np.cumsum([0] + [t.q for t in rest]).tolist()
        self.q_rest = self.rest_offsets[-1]
        self.m = self.q_rest + p + 1
        Z1 = _sparse_term(first, sw)
        ZR = sp.hstack([_sparse_term(t, sw) for t in rest], format="csc")
        D = np.column_stack([X * sw[:, None], y * sw])
        p1 = self.p1
        A11 = np.empty((self.n1, p1, p1))
        Zw = first.Z * sw[:, None]
        for k in range(p1):
            for l_ in range(k, p1):
                v = np.bincount(first.codes, weights=Zw[:, k] * Zw[:, l_], minlength=self.n1)
                A11[:, k, l_] = v
                A11[:, l_, k] = v
        self.A11 = A11
        self.A_ZZ = (ZR.T @ ZR).tocsr()
        self.A_Z1 = (ZR.T @ Z1).tocsr()
        self.A_D1 = np.asarray((Z1.T @ D).T)  # (p + 1, q1)
        self.A_ZD = np.asarray(ZR.T @ D)  # (q_rest, p + 1)
        self.A_DD = D.T @ D
        self.dense_factor = dense_factor
        self._rest_scalar = all(t.dim == 1 for t in rest)
        self._eye = sp.identity(self.q_rest, format="csr")
        self._eye_p1 = np.eye(p1)

    # ------------------------------------------------------------------------------
    def _lambda_R(self, lambdas: list[FloatArray]) -> Any:
        blocks = [
            sp.kron(sp.identity(t.n_levels, format="csr"), sp.csr_matrix(lam), format="csr")
            for t, lam in zip(self.terms[1:], lambdas[1:], strict=True)
        ]
        return sp.block_diag(blocks, format="csr")

    def _first_blocks(self, l1: FloatArray) -> tuple[FloatArray, FloatArray, float]:
        """``T_j = l1' A11_j l1 + I``, ``W_j = l1 T_j^-1 l1'`` and ``sum log|T_j|``."""
        if self.p1 == 1:
            s2 = l1[0, 0] ** 2
            T = s2 * self.A11 + 1.0
            return T, (s2 / T), float(np.sum(np.log(T[:, 0, 0])))
        T = l1.T @ self.A11 @ l1 + self._eye_p1
        Tinv, logdets = _batched_inverse_logdet(T)
        return T, l1 @ Tinv @ l1.T, float(np.sum(logdets))

    def _schur(self, lambdas: list[FloatArray]) -> tuple[FloatArray, float, Any, Any, Any]:
        """``T``, ``sum log|T_j|`` and the blocks ``S_ZZ`` (sparse), ``S_ZD``, ``S_DD``."""
        T, W, logdet1 = self._first_blocks(lambdas[0])
        if self.p1 == 1:
            # Scalar first term: W is diagonal, a scaling of A_Z1's columns.
            w = W[:, 0, 0]
            AW = self.A_Z1.copy()
            AW.data *= w[AW.indices]
            G_DD = (self.A_D1 * w) @ self.A_D1.T
        else:
            Wb = _block_diagonal(W)
            AW = (self.A_Z1 @ Wb).tocsr()  # A_Z1 W, (q_rest, q1)
            G_DD = self.A_D1 @ (Wb @ self.A_D1.T)
        G_ZZ = AW @ self.A_Z1.T
        G_ZD = np.asarray(AW @ self.A_D1.T)
        if self._rest_scalar:
            # Lambda_R is diagonal: scale rows and columns in place of two products.
            scale = np.concatenate(
                [
                    np.full(t.q, lam[0, 0])
                    for t, lam in zip(self.terms[1:], lambdas[1:], strict=True)
                ]
            )
            M = (self.A_ZZ - G_ZZ).tocsr()
            M.data *= scale[self._row_of(M)] * scale[M.indices]
            S = (M + self._eye).tocsr()
            # S is symmetric: its CSR arrays read as CSC are S itself (no conversion).
            S_ZZ = sp.csc_matrix((S.data, S.indices, S.indptr), shape=S.shape)
            S_ZD = scale[:, None] * (self.A_ZD - G_ZD)
        else:
            LR = self._lambda_R(lambdas)
            S_ZZ = (LR.T @ (self.A_ZZ - G_ZZ) @ LR + self._eye).tocsc()
            S_ZD = np.asarray(LR.T @ (self.A_ZD - G_ZD))
        return T, logdet1, S_ZZ, S_ZD, self.A_DD - G_DD

    @staticmethod
    def _row_of(M: Any) -> np.ndarray:
        """Row index of each stored entry of a CSR matrix."""
        return np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))

    def _choose_ordering(self) -> None:
        """Fix the fill-reducing ordering once, on the pattern of ``S_ZZ`` at a generic
        theta (the start, off-diagonal parameters moved off zero): a banded Cholesky
        after reverse Cuthill-McKee (LAPACK; where the band holds at most twice the
        entries of the minimum-degree factor), else SuperLU on the minimum-degree
        ordering."""
        lower, _ = self.bounds()
        start = self.start()
        theta = np.where(np.isfinite(lower), np.maximum(start, 0.5), start + 0.1)
        S = self._schur(self.lambdas(theta))[2]
        first = _SuperLUFactor.of(S)
        rcm = csgraph.reverse_cuthill_mckee(S.tocsr(), symmetric_mode=True)
        inv = np.empty_like(rcm)
        inv[rcm] = np.arange(rcm.size)
        coo = S.tocoo()
        band = int(np.max(np.abs(inv[coo.row] - inv[coo.col]), initial=0))
        mmd_entries = first.lu.L.nnz if first is not None else np.inf
        self._ordering: tuple[str, np.ndarray, int]
        if self.q_rest * (band + 1) <= 2 * mmd_entries:
            self._ordering = ("banded", inv, band)
        else:
            perm = first.lu.perm_c if first is not None else np.arange(self.q_rest)
            inv_mmd = np.empty_like(perm)
            inv_mmd[perm] = np.arange(perm.size)
            self._ordering = ("superlu", inv_mmd, 0)

    def _factor(self, S_ZZ: Any) -> Any:
        if self.dense_factor:
            return _DenseFactor.of(S_ZZ)
        if not hasattr(self, "_ordering"):
            self._choose_ordering()
        kind, inv, band = self._ordering
        if kind == "banded":
            return _BandedFactor.of(S_ZZ, inv, band)
        return _SuperLUFactor.of(S_ZZ, inv)

    def evaluate(
        self, theta: FloatArray, reml: bool, need_factor: bool = True
    ) -> SparseEvaluation | None:
        """The criterion and its factors at ``theta``; ``None`` if S is not PD."""
        del need_factor  # the factor is always the same here
        theta = np.asarray(theta, dtype=np.float64)
        lambdas = self.lambdas(theta)
        T, logdet1, S_ZZ, S_ZD, S_DD = self._schur(lambdas)
        lu = self._factor(S_ZZ)
        if lu is None:
            return None
        d = lu.diagonal
        if not (d.min(initial=1.0) > 0.0 and np.isfinite(d.sum())):
            return None
        C = lu.solve(S_ZD)
        schur = S_DD - S_ZD.T @ C
        L, info = _potrf((schur + schur.T) / 2.0, lower=1, clean=1)
        if info != 0:
            return None
        dL = np.diag(L)
        if not (dL[:-1].min(initial=1.0) > 0.0 and np.isfinite(dL.sum())):
            return None
        logdet_L = logdet1 + float(np.sum(np.log(d)))
        logdet_RX = 2.0 * float(np.sum(np.log(dL[: self.p])))
        pwrss = float(dL[-1] ** 2)
        obj = profiled_objective(logdet_L, logdet_RX, pwrss, self.n, self.p, reml)
        obj -= self.log_weights_sum
        return SparseEvaluation(
            theta, float(obj), logdet_L, logdet_RX, pwrss, L, T, lambdas, lu=lu, C=C
        )

    def objective(self, theta: FloatArray, reml: bool) -> float:
        ev = self.evaluate(theta, reml, need_factor=False)
        return np.inf if ev is None else ev.objective

    def gradient(self, theta: FloatArray, reml: bool) -> tuple[float, FloatArray | None]:
        """The criterion; no analytic gradient on this path (``None``)."""
        return self.objective(theta, reml), None

    # ------------------------------------------------------------------------------
    def _sparse_ev(self, ev: Evaluation) -> SparseEvaluation:
        if isinstance(ev, SparseEvaluation) and ev.lu is not None:
            return ev
        out = self.evaluate(ev.theta, reml=True)
        if out is None:
            raise ValueError("the criterion cannot be evaluated at this theta")
        return out

    def solve(self, ev: Evaluation) -> tuple[FloatArray, list[FloatArray], FloatArray]:
        """Fixed effects, spherical random effects per term ``(n_levels, dim)`` and the
        spherical random effects of the non-first terms (flat), at ``ev``."""
        sev = self._sparse_ev(ev)
        assert sev.C is not None
        p = self.p
        L = sev.L
        beta = sla.solve_triangular(L[:p, :p], L[p, :p], lower=True, trans=1) if p else np.zeros(0)
        u_R = sev.C[:, p] - sev.C[:, :p] @ beta
        LR = self._lambda_R(sev.lambdas)
        # First term: T_j u_1j = l1' (A_1y - A_1X beta - A_1R Lambda_R u_R)
        coef = np.concatenate([-beta, [1.0]])
        r1 = (self.A_D1.T @ coef - self.A_Z1.T @ (LR @ u_R)).reshape(self.n1, self.p1)
        rhs = r1 @ sev.lambdas[0]
        Tinv, _ = _batched_inverse_logdet(sev.class_T)
        u1 = np.einsum("jab,jb->ja", Tinv, rhs)
        us = [u1]
        for t, off in zip(self.terms[1:], self.rest_offsets, strict=False):
            us.append(u_R[off : off + t.q].reshape(t.n_levels, t.dim))
        return np.asarray(beta), us, u_R

    def vcov_unscaled(self, ev: Evaluation) -> FloatArray:
        """``(X' V0^-1 X)^-1``; multiply by sigma^2 for the covariance of beta-hat."""
        p = self.p
        LX = ev.L[:p, :p]
        inv = sla.solve_triangular(LX, np.eye(p), lower=True)
        return np.asarray(inv.T @ inv)

    def conditional_variances(self, ev: Evaluation) -> list[FloatArray]:
        """Per term ``(n_levels, dim, dim)`` blocks of ``Lambda Omega^-1 Lambda'``
        (multiply by sigma^2), lme4's ``condVar``: columns of ``S_ZZ^-1`` by solves in
        chunks (costs ``q_rest`` solves with the factor)."""
        sev = self._sparse_ev(ev)
        lu = sev.lu
        q, p1, n1 = self.q_rest, self.p1, self.n1
        lambdas = sev.lambdas
        l1 = lambdas[0]
        Tinv, _ = _batched_inverse_logdet(sev.class_T)
        LR = self._lambda_R(lambdas)
        # B = Lambda_R' A_R1[RE] Lambda_1 T^-1 ; Var(u1) = T^-1 + B' S^-1 B
        B = (LR.T @ self.A_Z1 @ sp.kron(sp.identity(n1), sp.csr_matrix(l1))).tocsc()
        extra = np.zeros((n1, p1, p1))
        rest_blocks = [np.zeros((t.n_levels, t.dim, t.dim)) for t in self.terms[1:]]
        chunk = max(1, 2_000_000 // max(q, 1))
        for lo in range(0, n1, chunk):
            hi = min(n1, lo + chunk)
            cols = B[:, lo * p1 : hi * p1].toarray().reshape(q, hi - lo, p1)
            cols = np.einsum("qnj,njk->qnk", cols, Tinv[lo:hi]).reshape(q, -1)
            sol = lu.solve(cols).reshape(q, hi - lo, p1)
            extra[lo:hi] = np.einsum("qni,qnj->nij", cols.reshape(q, hi - lo, p1), sol)
        for k, (t, off) in enumerate(zip(self.terms[1:], self.rest_offsets, strict=False)):
            step = max(1, chunk // t.dim) * t.dim
            for lo in range(0, t.q, step):
                hi = min(t.q, lo + step)
                E = np.zeros((q, hi - lo))
                E[off + lo + np.arange(hi - lo), np.arange(hi - lo)] = 1.0
                sol = lu.solve(E)[off + lo : off + hi]  # (hi - lo, hi - lo)
                nb = (hi - lo) // t.dim
                blk = sol.reshape(nb, t.dim, nb, t.dim)
                rest_blocks[k][lo // t.dim : hi // t.dim] = np.einsum("iaib->iab", blk)
        out = [np.einsum("ij,njk,lk->nil", l1, Tinv + extra, l1)]
        for blocks, lam in zip(rest_blocks, lambdas[1:], strict=True):
            out.append(np.einsum("ij,njk,lk->nil", lam, blocks, lam))
        return out
