"""Penalised weighted least squares with weights that change: the GLMM's inner solver.

For a GLMM the weights ``W`` of ``Lambda' Z' W Z Lambda + I`` change at every PIRLS
iteration, so nothing can be grouped by class as in the LMM (decision 0001).  The block
structure is the same: the first (largest) term is block diagonal and eliminated
analytically, everything else (the other terms and, for the joint update of the fixed
effects, ``X``) forms one dense block ``R``.  Every weighted cross-product is a
``bincount`` over precomputed flat indices — one pass over the rows, no sparse-matrix
construction — and an update costs ``O(n)`` plus one dense Cholesky of size ``m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..interfaces import FloatArray
from ..linear.criterion import TermData

__all__ = ["Factor", "PenalizedSystem", "SelectedInverse"]

_potrf = sla.lapack.dpotrf
_potrs = sla.lapack.dpotrs
_syrk = sla.blas.dsyrk


@dataclass
class Factor:
    """The factorisation of the penalised system at one (theta, weights)."""

    lambdas: list[FloatArray]
    Tinv: FloatArray  # (n1, p1, p1) inverses of the first term's blocks
    B: FloatArray  # (m, q1): Lambda_R' A_R1 Lambda_1
    L: FloatArray  # (m, m) lower Cholesky factor of the Schur complement S
    logdet_re: float  # log |Lambda' Z' W Z Lambda + I|


@dataclass
class SelectedInverse:
    """Blocks of ``Omega^-1`` (random-effect part) needed for per-row quadratic forms."""

    O11: FloatArray  # (n1, p1, p1) first-term diagonal blocks
    O1R: FloatArray  # (n1, p1, q_rest) first term x other terms
    ORR: FloatArray  # (q_rest, q_rest) other terms


class _RowSum:
    """``out = bincount(index, (w[:, None] * values).ravel(), size)`` as one sparse
    product: a CSR matrix over the output positions that rows touch (each output's
    terms stay in row order, as bincount adds them)."""

    def __init__(self, index: np.ndarray, values: FloatArray, size: int) -> None:
        n, k = values.shape
        self.size = size
        rows = np.repeat(np.arange(n), k)
        self.positions, compact = np.unique(index.ravel(), return_inverse=True)
        self.matrix = sp.csr_matrix(
            (values.ravel(), (compact.ravel(), rows)), shape=(self.positions.size, n)
        )

    def __call__(self, w: FloatArray) -> FloatArray:
        out = np.zeros(self.size)
        out[self.positions] = np.asarray(self.matrix @ w)
        return out


class PenalizedSystem:
    """Weighted cross-products of ``[Z (X)]`` and solves of the penalised system.

    Parameters
    ----------
    X
        ``(n, p)`` fixed-effects matrix.
    terms
        Random-effect terms, largest first.
    augment
        Include ``X`` in the system (joint update of ``u`` and ``beta``, unpenalised).
    """

    def __init__(self, X: FloatArray, terms: list[TermData], augment: bool) -> None:
        n, p = X.shape
        self.n, self.p = n, p
        self.terms = terms
        self.augment = augment
        first, rest = terms[0], terms[1:]
        self.n1, self.p1 = first.n_levels, first.dim
        self.q1 = first.q
        self.rest_offsets = np.cumsum([0] + [t.q for t in rest]).tolist()
        self.q_rest = self.rest_offsets[-1]
        self.m = self.q_rest + (p if augment else 0)
        self.X = X
        # Per row: the R-block columns it touches and the values there.
        cols, vals = [], []
        for t, off in zip(rest, self.rest_offsets, strict=False):
            for k in range(t.dim):
                cols.append(off + t.codes * t.dim + k)
                vals.append(t.Z[:, k])
        if augment:
            for j in range(p):
                cols.append(np.full(n, self.q_rest + j))
                vals.append(X[:, j])
        self.colsR = np.column_stack(cols) if cols else np.zeros((n, 0), np.int64)
        self.valsR = np.column_stack(vals) if vals else np.zeros((n, 0))
        self.cols1 = first.codes[:, None] * self.p1 + np.arange(self.p1)[None, :]
        self.vals1 = first.Z
        e = self.colsR.shape[1]
        # Flat indices of the products each row adds to A_R1 (m x q1) and A_RR (m x m).
        idx_R1 = (self.colsR[:, :, None] * self.q1 + self.cols1[:, None, :]).ravel()
        prod_R1 = (self.valsR[:, :, None] * self.vals1[:, None, :]).reshape(n, -1)
        # A_RR: the random-effect block by bincount; with X, the X columns are dense, so
        # X' W X is one matrix product and Z_R' W X a bincount into (q_rest, p).
        e_re = self.colsR.shape[1] - (p if augment else 0)
        self._e_re = e_re
        cre, vre = self.colsR[:, :e_re], self.valsR[:, :e_re]
        idx_RR = (cre[:, :, None] * self.q_rest + cre[:, None, :]).ravel()
        prod_RR = (vre[:, :, None] * vre[:, None, :]).reshape(n, -1)
        if augment:
            idx_RX = (cre[:, :, None] * p + np.arange(p)[None, None, :]).ravel()
            prod_RX = (vre[:, :, None] * X[:, None, :]).reshape(n, -1)
        idx_11 = (
            (first.codes[:, None, None] * self.p1 + np.arange(self.p1)[None, :, None]) * self.p1
            + np.arange(self.p1)[None, None, :]
        ).ravel()
        prod_11 = (self.vals1[:, :, None] * self.vals1[:, None, :]).reshape(n, -1)
        p1sq = self.p1 * self.p1
        self._e = e
        self._diag_re = np.arange(self.q_rest)
        # The weighted sums above as sparse products (one pass, no temporaries).
        self._sum_11 = _RowSum(idx_11, prod_11, self.n1 * p1sq)
        self._sum_R1 = _RowSum(idx_R1, prod_R1, self.m * self.q1)
        self._sum_RR = _RowSum(idx_RR, prod_RR, self.q_rest * self.q_rest)
        if augment:
            self._sum_RX = _RowSum(idx_RX, prod_RX, self.q_rest * p)
        self._sum_1 = _RowSum(self.cols1, self.vals1, self.q1)
        self._sum_R = _RowSum(self.colsR, self.valsR, self.m)

    # --- cross-products -------------------------------------------------------------
    def _weighted(self, w: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        A11 = self._sum_11(w).reshape(self.n1, self.p1, self.p1)
        if self.m == 0:
            empty = np.zeros((0, self.q1))
            return A11, empty, np.zeros((0, 0))
        A_R1 = self._sum_R1(w).reshape(self.m, self.q1)
        q = self.q_rest
        A_ZZ = self._sum_RR(w)
        if not self.augment:
            return A11, A_R1, A_ZZ.reshape(q, q)
        A_RR = np.empty((self.m, self.m))
        A_RR[:q, :q] = A_ZZ.reshape(q, q)
        A_RR[:q, q:] = self._sum_RX(w).reshape(q, self.p)
        A_RR[q:, :q] = A_RR[:q, q:].T
        A_RR[q:, q:] = self.X.T @ (w[:, None] * self.X)
        return A11, A_R1, A_RR

    def crossprod(self, w: FloatArray, v: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``Z_1' W v`` (``(n1, p1)``) and ``[Z_R X]' W v`` (``(m,)``)."""
        wv = w * v
        return self._sum_1(wv).reshape(self.n1, self.p1), self._sum_R(wv)

    # --- factorisation and solves ---------------------------------------------------
    def _scale_rows(self, M: FloatArray, lambdas: list[FloatArray]) -> FloatArray:
        """``Lambda_R' M`` (rows of the other terms; X rows unchanged)."""
        for t, lam, off in zip(self.terms[1:], lambdas[1:], self.rest_offsets, strict=False):
            sl = slice(off, off + t.q)
            if t.dim == 1:
                M[sl] *= lam[0, 0]
            else:
                blk = M[sl].reshape(t.n_levels, t.dim, -1)
                M[sl] = np.einsum("ji,njm->nim", lam, blk).reshape(t.q, -1)
        return M

    def factor(self, lambdas: list[FloatArray], w: FloatArray) -> Factor | None:
        """Factor the penalised system for relative factors ``lambdas`` and weights ``w``
        (``None`` where it cannot be: weights or factors that are not finite, a matrix
        that is not positive definite)."""
        if not (np.all(np.isfinite(w)) and all(np.all(np.isfinite(lam)) for lam in lambdas)):
            return None  # an overflowing mean (an extreme trial point)
        return self.factor_from(lambdas, *self._weighted(w))

    def weighted(self, w: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The weighted cross-products ``A11``, ``A_R1``, ``A_RR`` of these rows: sums over
        rows, so those of chunks of rows add up to those of all rows (decision 0022)."""
        return self._weighted(w)

    def factor_from(
        self, lambdas: list[FloatArray], A11: FloatArray, A_R1: FloatArray, A_RR: FloatArray
    ) -> Factor | None:
        """:meth:`factor` from weighted cross-products (:meth:`weighted`, or their sum
        over chunks of rows)."""
        if not all(np.all(np.isfinite(lam)) for lam in lambdas):
            return None
        l1 = lambdas[0]
        p1 = self.p1
        if p1 == 1:
            s = l1[0, 0]
            T = s * s * A11[:, 0, 0] + 1.0
            Tinv = (1.0 / T)[:, None, None]
            logdet1 = float(np.sum(np.log(T)))
            B = A_R1 * s
        else:
            T = l1.T @ A11 @ l1 + np.eye(p1)
            if not np.all(np.isfinite(T)):
                return None  # weights overflowed (an extreme trial point)
            try:
                Tinv = np.linalg.inv(T)
            except np.linalg.LinAlgError:
                return None
            logdet1 = float(np.sum(np.linalg.slogdet(T)[1]))
            B = (A_R1.reshape(self.m, self.n1, p1) @ l1).reshape(self.m, self.q1)
        if self.m == 0:
            return Factor(lambdas, Tinv, B, np.zeros((0, 0)), logdet1)
        B = self._scale_rows(B, lambdas)
        S = self._scale_rows(A_RR.astype(np.float64), lambdas)
        S = self._scale_rows(S.T.copy(), lambdas)  # Lambda_R' A_RR Lambda_R (symmetric)
        S[self._diag_re, self._diag_re] += 1.0
        if p1 == 1:
            # S -= B diag(T^-1) B' as a symmetric rank-k update (lower triangle only).
            Bs = B * np.sqrt(Tinv[:, 0, 0])
            S = _syrk(-1.0, Bs, beta=1.0, c=np.asfortranarray(S), lower=1)
        else:
            Bl = B.reshape(self.m, self.n1, p1)
            S -= np.einsum("mja,jab,kjb->mk", Bl, Tinv, Bl)
        L, info = _potrf(S, lower=1, clean=1)
        if info != 0:
            return None
        logdet_R = 2.0 * float(np.sum(np.log(np.diag(L)[: self.q_rest])))
        return Factor(lambdas, Tinv, B, L, logdet1 + logdet_R)

    def solve(self, f: Factor, r1: FloatArray, rR: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Solve the penalised system for right-hand sides in ``u`` space.

        ``r1`` is ``(n1, p1)`` (first term), ``rR`` is ``(m,)`` (other terms, then X when
        augmented).  Returns the solution in the same two parts.
        """
        t1 = np.einsum("jab,jb->ja", f.Tinv, r1)
        if self.m:
            rhs = rR - f.B @ t1.ravel()
            xR, _ = _potrs(f.L, rhs, lower=1)
            u1 = np.einsum("jab,jb->ja", f.Tinv, r1 - (f.B.T @ xR).reshape(self.n1, self.p1))
        else:
            xR, u1 = rR, t1
        return u1, xR

    # --- linear predictor -----------------------------------------------------------
    def random_part(self, lambdas: list[FloatArray], u1: FloatArray, uR: FloatArray) -> FloatArray:
        """``Z Lambda u`` for spherical effects ``u1`` (first term) and ``uR`` (others)."""
        first = self.terms[0]
        b1 = u1 @ lambdas[0].T
        out = np.einsum("ij,ij->i", first.Z, b1[first.codes])
        for t, lam, off in zip(self.terms[1:], lambdas[1:], self.rest_offsets, strict=False):
            bk = uR[off : off + t.q].reshape(t.n_levels, t.dim) @ lam.T
            out += np.einsum("ij,ij->i", t.Z, bk[t.codes])
        return out

    def rhs(
        self, lambdas: list[FloatArray], w: FloatArray, v: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Right-hand sides ``Lambda' Z' W v`` (and ``X' W v`` when augmented)."""
        r1, rR = self.crossprod(w, v)
        r1 = r1 @ lambdas[0]
        rR = self._scale_rows(rR[:, None].copy(), lambdas)[:, 0]
        return r1, rR

    # --- conditional variances ------------------------------------------------------------
    def conditional_variances(self, f: Factor) -> list[FloatArray]:
        """Per term ``(n_levels, dim, dim)`` diagonal blocks of ``Lambda Omega^-1
        Lambda'`` (lme4's ``condVar`` of a GLMM, dispersion 1).  Only for a system without
        ``X``."""
        if self.augment:
            raise ValueError("conditional variances are defined for the system without X")
        l1 = f.lambdas[0]
        cov_u1 = f.Tinv.copy()
        out = []
        if self.m:
            # H = L^-1 B T^-1: Var(u1_j) = T_j^-1 + H_j' H_j.
            BT = np.einsum("mja,jab->mjb", f.B.reshape(self.m, self.n1, self.p1), f.Tinv)
            H = sla.solve_triangular(f.L, BT.reshape(self.m, -1), lower=True)
            H = H.reshape(self.m, self.n1, self.p1)
            cov_u1 = cov_u1 + np.einsum("mja,mjb->jab", H, H)
        out.append(np.einsum("ij,njk,lk->nil", l1, cov_u1, l1))
        if self.m:
            Linv = sla.solve_triangular(f.L, np.eye(self.m), lower=True)
            for t, lam, off in zip(self.terms[1:], f.lambdas[1:], self.rest_offsets, strict=False):
                blocks = Linv[:, off : off + t.q].reshape(self.m, t.n_levels, t.dim)
                cov_u = np.einsum("qni,qnj->nij", blocks, blocks)
                out.append(np.einsum("ij,njk,lk->nil", lam, cov_u, lam))
        return out

    def fixed_effects_vcov(self, f: Factor) -> FloatArray:
        """``(X' V^-1 X)^-1`` from an augmented factorisation (the beta block of the
        inverse of the joint penalised system)."""
        if not self.augment:
            raise ValueError("the fixed-effects block needs the system with X")
        Lx = f.L[self.q_rest :, self.q_rest :]
        inv = sla.solve_triangular(Lx, np.eye(self.p), lower=True)
        return np.asarray(inv.T @ inv)

    # --- selected inverse and per-row quadratic forms -------------------------------------
    def selected_inverse(self, f: Factor) -> SelectedInverse:
        """The blocks of ``Omega^-1`` (random-effect part only) that rows touch.

        With ``Omega = [[T, B'], [B, S_full]]`` (first term, then the other terms) and
        ``S = S_full - B T^-1 B' = L L'``: ``Omega^-1``'s other-terms block is ``S^-1``,
        its off-diagonal block ``-T^-1 B' S^-1`` and its first-term diagonal blocks
        ``T_j^-1 + C_j' S^-1 C_j`` with ``C = B T^-1``.  For the augmented system the
        leading block of ``L`` is the Schur complement of the random-effect part alone, so
        the blocks are those of ``(Lambda' Z' W Z Lambda + I)^-1`` in either case.
        Costs ``O(q_rest^2 q1)`` — no pass over the rows.
        """
        qr = self.q_rest
        n1, p1 = self.n1, self.p1
        if qr == 0:
            return SelectedInverse(f.Tinv, np.zeros((n1, p1, 0)), np.zeros((0, 0)))
        Linv = sla.solve_triangular(f.L[:qr, :qr], np.eye(qr), lower=True)
        Sinv = Linv.T @ Linv
        C = np.einsum("mja,jab->mjb", f.B[:qr].reshape(qr, n1, p1), f.Tinv).reshape(qr, -1)
        H = (Linv @ C).reshape(qr, n1, p1)
        O11 = f.Tinv + np.einsum("mja,mjb->jab", H, H)
        O1R = -(Sinv @ C).T.reshape(n1, p1, qr)
        return SelectedInverse(O11, O1R, Sinv)

    def row_vectors(self, lambdas: list[FloatArray]) -> tuple[FloatArray, FloatArray]:
        """Each row of ``Z Lambda`` in compact form: ``(n, p1)`` values at the row's
        first-term level and ``(n, e)`` values at the other terms' columns (``colsR``'s
        random-effect part).  Derivatives of ``Lambda`` give rows of ``Z dLambda``."""
        a = self.vals1 @ lambdas[0]
        parts = [t.Z @ lam for t, lam in zip(self.terms[1:], lambdas[1:], strict=False)]
        c = np.concatenate(parts, axis=1) if parts else np.zeros((self.n, 0))
        return a, c

    def row_bilinear(
        self,
        sel: SelectedInverse,
        v: tuple[FloatArray, FloatArray],
        w: tuple[FloatArray, FloatArray],
    ) -> FloatArray:
        """``v_i' Omega^-1 w_i`` for every row, ``v`` and ``w`` from :meth:`row_vectors`."""
        a, c = v
        a2, c2 = w
        j = self.terms[0].codes
        out = np.einsum("ia,iab,ib->i", a, sel.O11[j], a2)
        e = c.shape[1]
        if e:
            cols = self.colsR[:, :e]
            G = sel.O1R[j[:, None, None], np.arange(self.p1)[None, :, None], cols[:, None, :]]
            out += np.einsum("ia,iae,ie->i", a, G, c2)
            out += np.einsum("ia,iae,ie->i", a2, G, c)
            SR = sel.ORR[cols[:, :, None], cols[:, None, :]]
            out += np.einsum("ie,ief,if->i", c, SR, c2)
        return np.asarray(out, dtype=np.float64)

    def leverages(self, f: Factor) -> FloatArray:
        """``h_i = (Z Lambda Omega^-1 Lambda' Z')_ii`` for every row (random-effect
        part of ``Omega`` for the augmented system)."""
        v = self.row_vectors(f.lambdas)
        return self.row_bilinear(self.selected_inverse(f), v, v)
